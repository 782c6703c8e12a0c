"""Operators' accounts and login: made on the command line with a hashed password, logged in
through a CSRF-protected form with rotated, HttpOnly, SameSite (and over HTTPS, Secure)
cookies, failed attempts limited per e-mail and per address, and pages refused by role."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, expect
from werkzeug.security import check_password_hash
from werkzeug.test import TestResponse

from finder import create_app
from finder.db import get_database, session_scope
from finder.moderation.accounts import create_account
from finder.moderation.models import Account, Role
from finder.moderation.views import login_required
from finder.search import get_backend
from tests import browser as browsing
from tests.browser import DESKTOP, PHONE, PageFactory, assert_accessible, page_factory, shot
from tests.conftest import TEST_CONFIG, Runner, Server
from tests.redis_server import RedisServer

MODERATOR = "mod@finder.example"
ADMIN = "admin@finder.example"
PASSWORD = "a long enough secret"
WRONG = "not the right password"
HTTPS = "https://finder.test"

browser = browsing.browser  # the module's Chromium


@pytest.fixture
def accounts(app: Flask) -> Flask:
    """A moderator and an admin, both with PASSWORD."""
    with session_scope(app) as session:
        create_account(session, MODERATOR, PASSWORD, Role.MODERATOR)
        create_account(session, ADMIN, PASSWORD, Role.ADMIN)
        session.commit()
    return app


def token(html: str) -> str:
    """Return the CSRF token of the page's (first) form, as a browser would send it."""
    found = re.search(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def log_in(client: FlaskClient, email: str, password: str, next: str | None = None,
           **options: Any) -> TestResponse:
    """Open the login page and send its form, as an operator does."""
    query = {"next": next} if next is not None else {}
    page = client.get("/login", query_string=query, **options)
    return client.post("/login", query_string=query, **options, data={
        "csrf_token": token(page.text), "email": email, "password": password})


def set_cookie(response: TestResponse) -> str:
    cookies = [value for value in response.headers.getlist("Set-Cookie")
               if value.startswith("session=")]
    assert len(cookies) == 1, response.headers
    return cookies[0]


def session_of(app: Flask, client: FlaskClient) -> dict[str, Any]:
    """Read what the client's session cookie holds."""
    cookie = client.get_cookie("session", domain="finder.test")
    assert cookie is not None
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    data: dict[str, Any] = serializer.loads(cookie.value)
    return data


def error_of(response: TestResponse) -> str:
    found = re.search(r'<p class="problem" role="alert">([^<]*)</p>', response.text)
    return found.group(1) if found else ""


def email_value(response: TestResponse) -> str | None:
    found = re.search(r'<input[^>]*name="email"[^>]*value="([^"]*)"', response.text)
    return found.group(1) if found else None


def password_value(response: TestResponse) -> str | None:
    found = re.search(r'<input[^>]*name="password"[^>]*value="([^"]*)"', response.text)
    return found.group(1) if found else None


# The command line


def test_users_create_reads_one_line_of_stdin_and_stores_only_a_hash(app: Flask,
                                                                      runner: Runner) -> None:
    result = runner.invoke("users", "create", "Mod@Finder.Example", "--role", "moderator",
                           input=f"{PASSWORD}\nnext line is not read\n")
    assert result.exit_code == 0, result.output
    assert "mod@finder.example, moderator" in result.output
    assert PASSWORD not in result.output
    with session_scope(app) as session:
        account = session.scalars(sa.select(Account)).one()
        assert account.email == MODERATOR and account.role is Role.MODERATOR
        assert PASSWORD not in account.password_hash
        assert account.password_hash.startswith("scrypt:")
        assert check_password_hash(account.password_hash, PASSWORD)
        assert not check_password_hash(account.password_hash, WRONG)
    listed = runner.invoke("users", "list").output
    assert re.search(r"^1  mod@finder\.example  moderator  made \d{4}-\d\d-\d\d  never logged in$",
                     listed, re.M), listed


def test_users_create_asks_twice_for_a_hidden_password_at_a_terminal(app: Flask,
                                                                     data_dir: Path) -> None:
    leader, follower = os.openpty()
    # The command runs in a session of its own and opens the terminal once, which makes the
    # terminal its controlling one: where a hidden prompt turns echo off, as at a login.
    code = ("import os, runpy, sys; os.close(os.open(os.ttyname(0), os.O_RDWR)); "
            "sys.argv[0] = 'finder'; runpy.run_module('finder', run_name='__main__')")
    process = subprocess.Popen(
        [sys.executable, "-c", code, "users", "create", ADMIN, "--role", "admin"],
        stdin=follower, stdout=follower, stderr=follower, start_new_session=True,
        env={**os.environ, "FINDER_DATA_DIR": str(data_dir)})
    os.close(follower)
    seen = b""

    def read_until(text: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 30
        while text not in seen and time.monotonic() < deadline:
            if select.select([leader], [], [], 0.5)[0]:
                try:
                    seen += os.read(leader, 1024)
                except OSError:  # the command has ended and closed the terminal
                    break
        assert text in seen, seen

    try:
        read_until(b"Password: ")
        os.write(leader, f"{PASSWORD}\n".encode())
        read_until(b"Repeat for confirmation: ")
        os.write(leader, f"{PASSWORD}\n".encode())
        read_until(b"account 1: admin@finder.example, admin")
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    assert PASSWORD.encode() not in seen  # never echoed
    with session_scope(app) as session:
        account = session.scalars(sa.select(Account)).one()
        assert check_password_hash(account.password_hash, PASSWORD)


@pytest.mark.parametrize(("email", "password", "message"), [
    ("not-an-address", PASSWORD, "'not-an-address' is not a valid e-mail address"),
    ("mod@", PASSWORD, "is not a valid e-mail address"),
    ("new@finder.example", "short pass", "at least 12 characters"),
    ("new@finder.example", "", "at least 12 characters"),
    (MODERATOR.upper(), PASSWORD, "An account with the e-mail mod@finder.example already exists"),
], ids=["no-at", "no-domain", "short", "empty", "duplicate"])
def test_users_create_refuses_with_a_clear_message(accounts: Flask, runner: Runner, email: str,
                                                   password: str, message: str) -> None:
    result = runner.invoke("users", "create", email, input=f"{password}\n")
    assert result.exit_code == 1
    assert message in result.output
    with session_scope(accounts) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Account)) == 2


def test_the_password_is_never_a_command_line_argument(runner: Runner) -> None:
    result = runner.invoke("users", "create", MODERATOR, "--password", PASSWORD)
    assert result.exit_code == 2
    assert "No such option" in result.output and "--password" in result.output


def test_users_list_shows_role_and_last_login(accounts: Flask, client: FlaskClient,
                                              runner: Runner) -> None:
    log_in(client, ADMIN, PASSWORD)
    listed = runner.invoke("users", "list").output.splitlines()
    assert listed[0].startswith("1  mod@finder.example  moderator") and "never" in listed[0]
    assert listed[1].startswith("2  admin@finder.example  admin") and "last login" in listed[1]


# Logging in


def test_login_rotates_the_session_into_an_httponly_samesite_cookie(accounts: Flask,
                                                                    client: FlaskClient) -> None:
    page = client.get("/login")
    assert "HttpOnly" in set_cookie(page) and "SameSite=Lax" in set_cookie(page)
    before = client.get_cookie("session", domain="finder.test")
    assert before is not None and "csrf_token" in session_of(accounts, client)
    response = client.post("/login", data={"csrf_token": token(page.text), "email": MODERATOR,
                                           "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/moderation"
    cookie = set_cookie(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))  # type: ignore[union-attr]
    assert abs(expires - datetime.now(UTC) - timedelta(hours=12)) < timedelta(minutes=1)
    after = client.get_cookie("session", domain="finder.test")
    assert after is not None and after.value != before.value
    # Only the account and a value drawn for this login; the anonymous form token is gone.
    held = session_of(accounts, client)
    assert set(held) - {"_permanent"} == {"account", "login"} and held["account"] == 1
    assert len(held["login"]) >= 20
    again = log_in(accounts.test_client(), MODERATOR, PASSWORD)
    assert session_of(accounts, client)["login"] not in set_cookie(again)
    landing = client.get("/moderation")
    assert landing.status_code == 200
    assert landing.headers["Cache-Control"] == "no-store"
    assert "mod@finder.example</strong>, moderator" in landing.text
    assert "Waiting for a decision" in landing.text


@pytest.mark.parametrize("target", ["/moderation?tab=queue", "/providers/1"])
def test_login_goes_on_to_a_page_of_this_site(accounts: Flask, client: FlaskClient,
                                              target: str) -> None:
    response = log_in(client, ADMIN, PASSWORD, next=target)
    assert response.headers["Location"] == target


@pytest.mark.parametrize("target", [
    "https://evil.example", "https://evil.example/moderation", "//evil.example/x",
    "/\\evil.example", "/\\/evil.example", "javascript:alert(1)", "/\t/evil.example",
    "moderation", "",
])
def test_login_never_goes_on_to_another_site(accounts: Flask, client: FlaskClient,
                                             target: str) -> None:
    response = log_in(client, ADMIN, PASSWORD, next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/moderation"
    # Nor does the form carry the address on, nor the page of a logged-in account.
    page = accounts.test_client().get("/login", query_string={"next": target})
    assert "evil" not in page.text
    assert client.get("/login", query_string={"next": target}).headers["Location"] \
        == "/moderation"


def test_a_wrong_password_keeps_the_email_and_does_not_tell_if_it_has_an_account(
        accounts: Flask, client: FlaskClient) -> None:
    known = log_in(client, MODERATOR, WRONG)
    unknown = log_in(client, "nobody@finder.example", WRONG)
    assert known.status_code == unknown.status_code == 200
    assert error_of(known) == error_of(unknown) == "The e-mail or the password is wrong."
    assert email_value(known) == MODERATOR
    assert email_value(unknown) == "nobody@finder.example"
    assert password_value(known) == "" and WRONG not in known.text
    assert client.get_cookie("session", domain="finder.test") is not None
    assert "account" not in session_of(accounts, client)
    assert client.get("/moderation").status_code == 302


@pytest.mark.parametrize(("email", "password", "field", "message"), [
    ("", PASSWORD, "email", "Enter your e-mail address."),
    ("not an address", PASSWORD, "email", "Enter an e-mail address like name@example.org."),
    (MODERATOR, "", "password", "Enter your password."),
])
def test_form_errors_are_shown_at_their_field(accounts: Flask, client: FlaskClient, email: str,
                                              password: str, field: str, message: str) -> None:
    response = log_in(client, email, password)
    assert response.status_code == 200
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in response.text
    control = re.search(rf'<input[^>]*name="{field}"[^>]*>', response.text)
    assert control and 'aria-invalid="true"' in control.group(0)
    assert f'aria-describedby="{field}-error"' in control.group(0)
    assert email_value(response) == email


def test_five_failures_for_an_email_refuse_even_the_right_password(accounts: Flask,
                                                                   client: FlaskClient) -> None:
    for _ in range(5):
        assert error_of(log_in(client, MODERATOR, WRONG)) == "The e-mail or the password is wrong."
    refused = log_in(client, MODERATOR.upper(), PASSWORD)
    assert refused.status_code == 429
    assert error_of(refused) == "Too many attempts; try again in 15 minutes."
    assert 840 <= int(refused.headers["Retry-After"]) <= 900
    assert refused.headers["X-RateLimit-Limit"] == "5"
    assert email_value(refused) == MODERATOR.upper()
    assert "account" not in session_of(accounts, client)
    # The limit is the e-mail's: another account from the same address still logs in.
    assert log_in(client, ADMIN, PASSWORD).headers["Location"] == "/moderation"


def test_twenty_failures_from_an_address_refuse_it_for_every_email(accounts: Flask) -> None:
    attacker = accounts.test_client()
    crowd = {"REMOTE_ADDR": "203.0.113.9"}
    for number in range(20):  # four guesses at each of five e-mails: under their own limit
        response = log_in(attacker, f"user{number % 5}@finder.example", WRONG,
                          environ_base=crowd)
        assert response.status_code == 200
    refused = log_in(attacker, ADMIN, PASSWORD, environ_base=crowd)
    assert refused.status_code == 429
    assert "Too many attempts; try again in" in error_of(refused)
    assert refused.headers["X-RateLimit-Limit"] == "20"
    elsewhere = log_in(accounts.test_client(), ADMIN, PASSWORD,
                       environ_base={"REMOTE_ADDR": "198.51.100.4"})
    assert elsewhere.headers["Location"] == "/moderation"


def test_a_login_forgets_the_emails_failures(accounts: Flask, client: FlaskClient) -> None:
    for _ in range(4):
        log_in(client, MODERATOR, WRONG)
    assert log_in(accounts.test_client(), MODERATOR, PASSWORD).status_code == 302
    for _ in range(4):
        assert log_in(client, MODERATOR, WRONG).status_code == 200
    assert log_in(accounts.test_client(), MODERATOR, PASSWORD).status_code == 302


def test_servers_share_failed_logins_through_redis_and_go_on_without_it(
        accounts: Flask, data_dir: Path) -> None:
    redis = RedisServer().start()
    servers = [create_app({"DATA_DIR": str(data_dir), **TEST_CONFIG,
                           "RATE_LIMIT_STORAGE": redis.url}) for _ in range(2)]
    try:
        for number in range(5):
            log_in(servers[number % 2].test_client(), MODERATOR, WRONG)
        assert log_in(servers[0].test_client(), MODERATOR, PASSWORD).status_code == 429
        # Operators can still log in while the store is away (uncounted, and logged).
        redis.stop()
        assert log_in(servers[1].test_client(), MODERATOR, PASSWORD).status_code == 302
    finally:
        redis.stop()
        for server in servers:
            get_backend(server).close()
            get_database(server).dispose()


@pytest.mark.parametrize("sent", [None, "forged", "other-session"])
def test_a_login_without_its_form_token_is_a_400(accounts: Flask, client: FlaskClient,
                                                 sent: str | None) -> None:
    client.get("/login")
    data = {"email": MODERATOR, "password": PASSWORD}
    if sent == "forged":
        data["csrf_token"] = "IjAwMDAi.aaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbb"
    elif sent == "other-session":
        data["csrf_token"] = token(accounts.test_client().get("/login").text)
    response = client.post("/login", data=data)
    assert response.status_code == 400
    assert "CSRF" in response.text
    assert "account" not in session_of(accounts, client)


def test_the_json_api_takes_posts_without_a_form_token(client: FlaskClient) -> None:
    # No cookie is involved, so nothing to forge: the click is refused for its id, not CSRF.
    response = client.post("/api/v1/widget/click?key=fk_unknown&id=1",
                           headers={"Origin": "https://run.example"})
    assert "CSRF" not in response.get_data(as_text=True)
    assert response.status_code in (204, 403)


# The moderation area


def test_anonymous_visitors_are_sent_to_login_and_back(accounts: Flask,
                                                       client: FlaskClient) -> None:
    response = client.get("/moderation")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login" and parse_qs(location.query) == {"next": ["/moderation"]}
    assert log_in(client, MODERATOR, PASSWORD, next="/moderation").headers["Location"] \
        == "/moderation"


def test_a_moderator_is_refused_an_admin_page(accounts: Flask) -> None:
    def admin_only() -> str:
        return "admins only"

    accounts.add_url_rule("/admin-only", "admin_only", login_required(Role.ADMIN)(admin_only))
    moderator, admin = accounts.test_client(), accounts.test_client()
    log_in(moderator, MODERATOR, PASSWORD)
    log_in(admin, ADMIN, PASSWORD)
    assert moderator.get("/admin-only").status_code == 403
    assert admin.get("/admin-only").text == "admins only"
    assert moderator.get("/moderation").status_code == 200


def test_a_removed_account_is_logged_out(accounts: Flask, client: FlaskClient) -> None:
    log_in(client, MODERATOR, PASSWORD)
    with session_scope(accounts) as session:
        session.execute(sa.delete(Account).where(Account.email == MODERATOR))
        session.commit()
    assert client.get("/moderation").status_code == 302


def test_logout_takes_a_post_with_its_form_token(accounts: Flask, client: FlaskClient) -> None:
    log_in(client, MODERATOR, PASSWORD)
    landing = client.get("/moderation")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/moderation").status_code == 200  # still logged in
    response = client.post("/logout", data={"csrf_token": token(landing.text)})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "You are logged out." in client.get("/login").text
    assert client.get("/moderation").status_code == 302


def test_the_cookie_is_secure_over_https(accounts: Flask, client: FlaskClient) -> None:
    page = client.get("/login", base_url=HTTPS)
    assert "; Secure" in set_cookie(page)
    referrer = {"Referer": f"{HTTPS}/login"}
    response = client.post("/login", base_url=HTTPS, headers=referrer, data={
        "csrf_token": token(page.text), "email": MODERATOR, "password": PASSWORD})
    assert response.status_code == 302
    assert "; Secure" in set_cookie(response) and "HttpOnly" in set_cookie(response)
    assert client.get("/moderation", base_url=HTTPS).status_code == 200
    # Over HTTPS a form must also come from a page of this site.
    other = accounts.test_client()
    page = other.get("/login", base_url=HTTPS)
    forged = other.post("/login", base_url=HTTPS, headers={"Referer": "https://evil.example/"},
                        data={"csrf_token": token(page.text), "email": MODERATOR,
                              "password": PASSWORD})
    assert forged.status_code == 400


def test_the_cookie_is_secure_behind_an_https_proxy(data_dir: Path) -> None:
    # A TLS proxy in front sends plain HTTP: FINDER_BASE_URL says the site is HTTPS.
    app = create_app({"DATA_DIR": str(data_dir), **TEST_CONFIG,
                      "BASE_URL": "https://finder.example"})
    try:
        assert "; Secure" in set_cookie(app.test_client().get("/login"))
    finally:
        get_backend(app).close()
        get_database(app).dispose()


def test_the_cookie_is_not_secure_over_plain_http(client: FlaskClient) -> None:
    # A directory tried out at http://127.0.0.1:5000 still logs in.
    assert "Secure" not in set_cookie(client.get("/login"))


# In a browser


@pytest.fixture
def open_page(browser: Browser, accounts: Flask, request: pytest.FixtureRequest
              ) -> Iterator[PageFactory]:
    """Open pages of a real `finder serve` (started once the accounts exist)."""
    server: Server = request.getfixturevalue("server")
    yield from page_factory(browser, server.url)


def tab_to(page: Page, label: str) -> None:
    """Press Tab until the field labelled ``label`` has the focus."""
    field = page.get_by_label(label, exact=True)
    for _ in range(10):
        if field.evaluate("element => element === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(field).to_be_focused()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_an_operator_logs_in_with_the_keyboard(open_page: PageFactory, viewport: str) -> None:
    page = open_page(**(DESKTOP if viewport == "desktop" else PHONE))
    page.goto("/moderation")
    assert urlsplit(page.url).path == "/login"
    tab_to(page, "E-mail")
    page.keyboard.press("Enter")  # nothing typed: each field says what it needs
    expect(page.locator("#email-error")).to_have_text("Enter your e-mail address.")
    expect(page.locator("#password-error")).to_have_text("Enter your password.")
    expect(page.get_by_label("E-mail", exact=True)).to_have_accessible_description(
        "Enter your e-mail address.")
    assert_accessible(page)
    shot(page, f"moderation-login-fields-{viewport}")
    expect(page.get_by_label("E-mail", exact=True)).to_be_focused()  # the first to fix
    page.keyboard.type(MODERATOR)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type(WRONG)
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("The e-mail or the password is wrong.")
    expect(page.get_by_label("E-mail", exact=True)).to_have_value(MODERATOR)
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    assert_accessible(page)
    shot(page, f"moderation-login-error-{viewport}")

    expect(page.get_by_label("Password", exact=True)).to_be_focused()  # ready to type again
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/moderation")
    expect(page.get_by_role("heading", level=1)).to_have_text("Moderation")
    expect(page.get_by_text("Logged in as")).to_contain_text(f"{MODERATOR}, moderator")
    widths = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
    assert widths[0] <= widths[1]
    assert_accessible(page)
    shot(page, f"moderation-landing-{viewport}")

    page.get_by_role("button", name="Log out").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/login")
    expect(page.get_by_role("status")).to_have_text("You are logged out.")
    assert_accessible(page)
    page.goto("/moderation")
    assert urlsplit(page.url).path == "/login"
