"""Owner links: they open one listing for its owner, expire, cannot be forged or reused."""

from __future__ import annotations

import time

import pytest
from flask import Flask

from finder.clinics import owners
from finder.db import session_scope

KEY = "k" * 64


def test_a_link_names_its_listing_and_owner(app: Flask) -> None:
    token = owners.make_token(KEY, 7, "owner@clinic.example")
    with session_scope(app) as session:
        link = owners.read_token(session, KEY, token, days=7)
    assert (link.location_id, link.email) == (7, "owner@clinic.example")


def test_each_link_is_different(app: Flask) -> None:
    assert owners.make_token(KEY, 7, "a@b.example") != owners.make_token(KEY, 7, "a@b.example")


@pytest.mark.parametrize("tamper", [
    lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # signature
    lambda token: "x" + token,  # payload
    lambda token: owners.make_token("another key" * 6, 7, "owner@clinic.example"),
    lambda token: "",
])
def test_a_forged_link_is_refused(app: Flask, tamper: object) -> None:
    token = owners.make_token(KEY, 7, "owner@clinic.example")
    with session_scope(app) as session, pytest.raises(owners.InvalidLink) as refused:
        owners.read_token(session, KEY, tamper(token), days=7)  # type: ignore[operator]
    assert refused.value.code == "invalid_link"


def test_another_signed_value_is_not_a_link(app: Flask) -> None:
    from itsdangerous import URLSafeTimedSerializer

    other = URLSafeTimedSerializer(KEY, salt="cookie-session").dumps(
        {"l": 7, "e": "owner@clinic.example", "j": "x"})
    with session_scope(app) as session, pytest.raises(owners.InvalidLink):
        owners.read_token(session, KEY, other, days=7)


def test_an_expired_link_is_refused(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    token = owners.make_token(KEY, 7, "owner@clinic.example")
    later = time.time() + 8 * owners.DAY
    monkeypatch.setattr(time, "time", lambda: later)
    with session_scope(app) as session, pytest.raises(owners.InvalidLink) as refused:
        owners.read_token(session, KEY, token, days=7)
    assert refused.value.code == "expired_link"


def test_a_used_link_is_refused(app: Flask) -> None:
    token = owners.make_token(KEY, 7, "owner@clinic.example")
    with session_scope(app) as session:
        owners.spend(session, owners.read_token(session, KEY, token, days=7))
        session.commit()
    with session_scope(app) as session, pytest.raises(owners.InvalidLink) as refused:
        owners.read_token(session, KEY, token, days=7)
    assert refused.value.code == "used_link"
