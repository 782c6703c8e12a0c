"""The moderation area's forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
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
