"""The moderation area's forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Email, Length


class LoginForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF has no type hints
    """An operator's e-mail and password."""

    email = EmailField("E-mail", validators=[
        DataRequired("Enter your e-mail address."),
        Email("Enter an e-mail address like name@example.org."),
        Length(max=254, message="An e-mail address has at most 254 characters.")])
    # The upper bound keeps a hash check from being fed megabytes.
    password = PasswordField("Password", validators=[
        DataRequired("Enter your password."),
        Length(max=1024, message="A password has at most 1,024 characters.")])


class LogoutForm(FlaskForm):  # type: ignore[misc]
    """A button to log out; the form carries only its CSRF token."""


class DecisionForm(FlaskForm):  # type: ignore[misc]
    """A moderator's decision on a submission; a refusal or a request says why."""

    message = TextAreaField("Message to the clinic (needed to reject or to ask for changes)",
                            validators=[Length(max=5000)])
    approve = SubmitField("Approve and publish")
    ask = SubmitField("Ask for changes")
    reject = SubmitField("Reject")


class DuplicateForm(FlaskForm):  # type: ignore[misc]
    """Merge a new listing into a likely duplicate, or say it is not one."""

    location_id = HiddenField()
    merge = SubmitField("Merge into this listing")
    dismiss = SubmitField("Not a duplicate")


class PublishForm(FlaskForm):  # type: ignore[misc]
    """Take a listing out of the directory, or put it back, saying why."""

    reason = TextAreaField("Why (kept in the listing's history)",
                           validators=[Length(max=2000)])
    unpublish = SubmitField("Unpublish")
    publish = SubmitField("Publish again")
    verified = SubmitField("Verified today")  # e.g. by calling the clinic


class PairForm(FlaskForm):  # type: ignore[misc]
    """Decide on a likely duplicate pair: keep one and merge the other into it (the button
    pressed sends ``keep``), or say the two are not duplicates."""

    first = HiddenField(validators=[DataRequired()])
    second = HiddenField(validators=[DataRequired()])
    keep = HiddenField()
    distinct = SubmitField("Not duplicates")
