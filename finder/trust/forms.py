"""The trust pages' forms: a patient's report, and a moderator's resolution of one."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    RadioField,
    SelectChoice,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import Optional

from .reports import NOTE_LENGTH, PROBLEM_LABELS


class ReportForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF has no type hints
    """What is wrong with a listing, as a patient tells it. The fields are checked by
    ``reports.check``, the same rules as the API's."""

    form_errors: list[str]

    # Any value reaches ``reports.check``, which says what the choices are.
    problem = RadioField("What is wrong?", validate_choice=False,
                         choices=[SelectChoice(problem.value, label)
                                  for problem, label in PROBLEM_LABELS.items()])
    note = TextAreaField(f"What should it say? (optional, up to {NOTE_LENGTH:,} characters)")
    email = EmailField("Your e-mail (optional)")
    # Left empty by people; filled by bots that fill every field. Hidden from both eyes
    # and screen readers in the page.
    fax_number = StringField("Leave this empty", validators=[Optional()])
    send = SubmitField("Send the report")

    def is_bot(self) -> bool:
        return bool((self.fax_number.data or "").strip())

    def show_errors(self, fields: list[tuple[str, str]]) -> None:
        """Put each message next to its field."""
        for name, message in fields:
            self[name].errors = [*self[name].errors, message]


class ResolveForm(FlaskForm):  # type: ignore[misc]
    """A moderator's resolution of a report, with what was done."""

    message = TextAreaField("What was done (kept in the listing's history; sent to the "
                            "patient when they left an e-mail)")
    fixed = SubmitField("Fixed")
    dismissed = SubmitField("Dismiss")
