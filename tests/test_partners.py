"""Partners: keys bound to origins, presets and theme checked, CORS only for the partner's
origins, disabled and rotated keys refused, per-partner limits, and counts that name no one."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import limits
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import AUSTIN, Runner, load, near, row

SITE = "https://run.example"
OTHER = "https://elsewhere.example"


def create(runner: Runner, *args: str) -> str:
    """Create a partner with the CLI and return the key it printed."""
    result = runner.invoke("partners", "create", "Riverside Running Club", "--origin", SITE,
                           *args)
    assert result.exit_code == 0, result.output
    found = re.search(r"^key: (\S+)", result.output, re.M)
    assert found, result.output
    return found.group(1)


@pytest.fixture
def directory(app: Flask) -> Flask:
    load(app, [row("a", "Eastside Dry Needling", near(AUSTIN, 1), services="Dry needling"),
               row("b", "Westside Physio", near(AUSTIN, 3, 270),
                   services="Dry needling; Manual therapy", techniques="electrical")])
    return app


def keyed(client: FlaskClient, key: str, origin: str | None = SITE, path: str = "/api/v1/search",
          **params: str) -> Any:
    headers = {"Origin": origin} if origin else {}
    return client.get(path, query_string={"key": key, **params}, headers=headers)


def test_create_prints_the_key_once_with_both_snippets(runner: Runner) -> None:
    result = runner.invoke("partners", "create", "Club", "--origin", "https://run.example/")
    assert result.exit_code == 0, result.output
    key = re.search(r"^key: (\S+)", result.output, re.M).group(1)  # type: ignore[union-attr]
    assert f'<script src="http://127.0.0.1:5000/widget.js" data-finder-key="{key}" async>' \
        in result.output
    assert f'<iframe src="http://127.0.0.1:5000/embed?key={key}"' in result.output
    assert "embed.js" in result.output
    listed = runner.invoke("partners", "list").output
    assert "https://run.example" in listed and key[:9] in listed and key not in listed


@pytest.mark.parametrize(("given", "stored"), [
    ("https://Run.Example/", "https://run.example"),
    ("https://run.example:443", "https://run.example"),
    ("http://127.0.0.1:8001", "http://127.0.0.1:8001"),
    ("http://[::1]:8080", "http://[::1]:8080"),
    ("https://bücher.example", "https://xn--bcher-kva.example"),
])
def test_origins_are_kept_as_browsers_send_them(runner: Runner, given: str,
                                                stored: str) -> None:
    result = runner.invoke("partners", "create", "Club", "--origin", given)
    assert result.exit_code == 0, result.output
    assert f"origins: {stored}\n" in result.output


def test_a_partner_is_named_by_its_key_or_its_number(runner: Runner) -> None:
    create(runner)
    assert runner.invoke("partners", "disable", "1").exit_code == 0
    assert "disabled" in runner.invoke("partners", "list").output
    missing = runner.invoke("partners", "disable", "7")
    assert missing.exit_code != 0 and "No partner has this key or number" in missing.output


def test_the_database_alone_does_not_hold_the_key(runner: Runner, data_dir: Path) -> None:
    key = create(runner)
    with sqlite3.connect(data_dir / "finder.sqlite3") as connection:
        dump = "\n".join(connection.iterdump())
    assert key not in dump
    assert key[9:] not in dump  # not even the part after the hint


@pytest.mark.parametrize(("args", "message"), [
    (["--origin", "run.example"], "is not an origin"),
    (["--origin", "https://run.example/widget"], "no path"),
    (["--origin", "https://*.example"], "wildcards"),
    (["--origin", SITE, "--accent", "red;background:url(x)"], "hex colour"),
    (["--origin", SITE, "--font", "x}body{color:red"], "font family"),
    (["--origin", SITE, "--corner-radius", "90"], "corner radius"),
    (["--origin", SITE, "--logo", "https://cdn.other.example/logo.png"], "partner's own origins"),
    (["--origin", SITE, "--filter", "technique=laser"], "technique"),
    (["--origin", SITE, "--filter", "colour=blue"], "cannot preset colour"),
    (["--origin", SITE, "--radius", "900"], "radius"),
    (["--origin", SITE, "--rate-limit", "lots"], "is not a rate limit"),
    (["--origin", SITE, "--rate-limit", "0/minute"], "is not a rate limit"),
    (["--origin", "https://a.example evil.example"], "valid host name"),
    (["--origin", "https://b.example;report-uri"], "valid host name"),
    (["--origin", "https://[bad"], "is not an origin"),
    (["--origin", "https://run.example:0"], "invalid port"),
    (["--origin", SITE, "--logo", "https://[bad/x.png"], "http(s) URL"),
    (["--origin", SITE, "--radius", "300"], "radius"),  # miles, as the widget sends
    (["--origin", SITE, "--postcode", "99999"], "99999"),
    (["--origin", SITE, "--postcode", "12345", "--country", "ZZ"], "ZZ"),
    (["--origin", SITE, "--city", "Zzyzxqq"], "Zzyzxqq"),
])
def test_bad_partner_settings_get_a_clear_message(runner: Runner, args: list[str],
                                                  message: str) -> None:
    result = runner.invoke("partners", "create", "Club", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert "no partners yet" in runner.invoke("partners", "list").output


def test_a_key_answers_its_origin_with_cors(directory: Flask, client: FlaskClient,
                                            runner: Runner) -> None:
    key = create(runner)
    response = keyed(client, key, postcode="78701", q="dry needling")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    assert "Origin" in response.headers["Vary"]
    body = response.get_json()
    assert body["total"] == 2
    assert all(result["url"].endswith("?partner=1") for result in body["results"])
    assert all("hours_status" in result for result in body["results"])


def test_a_key_from_another_origin_is_refused_without_cors(directory: Flask,
                                                           client: FlaskClient,
                                                           runner: Runner) -> None:
    key = create(runner)
    response = keyed(client, key, origin=OTHER, postcode="78701")
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_key_in_another_site_s_image_or_link_is_refused(directory: Flask,
                                                         client: FlaskClient,
                                                         runner: Runner) -> None:
    key = create(runner)
    # What a browser sends for <img src=".../api/v1/search?key=..."> on some other page.
    response = client.get(f"/api/v1/search?key={key}&postcode=78701",
                          headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "origin_not_allowed"
    # The iframe page's own requests, even when a proxy hides the scheme it was served by.
    own = client.post(f"/api/v1/widget/click?key={key}&id=1",
                      headers={"Origin": "https://finder.test", "Sec-Fetch-Site": "same-origin"})
    assert own.status_code == 204
    assert runner.invoke("partners", "stats").output.count("clicks 1") == 1


def test_requests_without_a_key_get_no_cors_headers(directory: Flask,
                                                    client: FlaskClient) -> None:
    response = client.get("/api/v1/search?postcode=78701", headers={"Origin": OTHER})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def test_disabled_and_rotated_keys_stop_working(directory: Flask, client: FlaskClient,
                                                runner: Runner) -> None:
    key = create(runner)
    rotated = runner.invoke("partners", "rotate-key", key)
    new_key = re.search(r"^key: (\S+)", rotated.output, re.M).group(1)  # type: ignore[union-attr]
    old = keyed(client, key, postcode="78701")
    assert old.status_code == 403 and old.get_json()["error"]["code"] == "invalid_key"
    assert keyed(client, new_key, postcode="78701").status_code == 200
    assert runner.invoke("partners", "disable", new_key).exit_code == 0
    disabled = keyed(client, new_key, postcode="78701")
    assert disabled.status_code == 403 and disabled.get_json()["error"]["code"] == "invalid_key"
    assert client.get(f"/embed?key={new_key}").status_code == 403
    assert runner.invoke("partners", "update", new_key, "--enable").exit_code == 0
    assert keyed(client, new_key, postcode="78701").status_code == 200


def test_update_keeps_what_it_is_not_told_to_change(runner: Runner, client: FlaskClient,
                                                    directory: Flask) -> None:
    key = create(runner, "--accent", "#112233", "--postcode", "78701")
    result = runner.invoke("partners", "update", key, "--origin", OTHER, "--keywords", "sciatica")
    assert result.exit_code == 0, result.output
    config = keyed(client, key, origin=OTHER, path="/api/v1/widget/config").get_json()
    assert config["theme"] == {"accent": "#112233"}
    assert config["defaults"] == {"postcode": "78701", "q": "sciatica"}
    assert keyed(client, key, origin=SITE, postcode="78701").status_code == 403


def test_a_partner_has_its_own_rate_limit(directory: Flask, client: FlaskClient,
                                          runner: Runner) -> None:
    key = create(runner, "--rate-limit", "2/minute")
    assert [keyed(client, key, postcode="78701").status_code for _ in range(3)] == [200, 200, 429]
    limited = keyed(client, key, postcode="78701")
    assert limited.get_json()["error"]["code"] == "rate_limited"
    assert limited.headers["Access-Control-Allow-Origin"] == SITE  # the widget can say why


def test_a_preflight_for_the_key_header_answers_only_partner_origins(
        directory: Flask, client: FlaskClient, runner: Runner) -> None:
    create(runner)
    asked = {"Access-Control-Request-Method": "GET",
             "Access-Control-Request-Headers": "x-finder-key"}
    allowed = client.options("/api/v1/search", headers={"Origin": SITE, **asked})
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == SITE
    assert "X-Finder-Key" in allowed.headers["Access-Control-Allow-Headers"]
    refused = client.options("/api/v1/search", headers={"Origin": OTHER, **asked})
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
    deleting = client.options("/api/v1/search", headers={
        "Origin": SITE, "Access-Control-Request-Method": "DELETE"})
    assert deleting.status_code == 403


def test_the_key_header_works_like_the_parameter(directory: Flask, client: FlaskClient,
                                                 runner: Runner) -> None:
    key = create(runner)
    response = client.get("/api/v1/search?postcode=78701",
                          headers={"Origin": SITE, "X-Finder-Key": key})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SITE


def test_the_embed_page_may_be_framed_only_by_the_partner(directory: Flask, client: FlaskClient,
                                                         runner: Runner) -> None:
    key = create(runner, "--logo", f"{SITE}/logo.png")
    response = client.get(f"/embed?key={key}&postcode=78701")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert f"frame-ancestors {SITE}" in policy and "'none'" not in policy.split("frame-")[1]
    assert f"img-src 'self' data: {SITE};" in policy
    page = response.get_data(as_text=True)
    assert f'data-finder-embed="{SITE}"' in page and 'data-postcode="78701"' in page
    assert client.get("/embed?key=fk_unknown").status_code == 403


def test_the_widget_scripts_are_served_to_other_sites(client: FlaskClient) -> None:
    for path in ("/widget.js", "/embed.js"):
        response = client.get(path)
        response.close()  # a file response streams
        assert response.status_code == 200
        assert response.mimetype == "text/javascript"
        assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"


def test_counts_go_up_by_what_was_done_and_name_no_one(directory: Flask, client: FlaskClient,
                                                        runner: Runner) -> None:
    key = create(runner)
    keyed(client, key, postcode="78701", q="Dry  Needling")
    keyed(client, key, postcode="78701-1234", q="dry needling")
    keyed(client, key, postcode="78701", q="kinesiology taping")  # nothing matches
    keyed(client, key, lat=str(AUSTIN[0]), lon=str(AUSTIN[1]))  # a point: no area kept
    keyed(client, key, city="Austin, TX")
    keyed(client, key, postcode="78701", q="dry needling", offset="1")  # "Load more"
    assert client.post(f"/api/v1/widget/click?key={key}&id=1",
                       headers={"Origin": SITE}).status_code == 204
    assert client.get("/providers/1?partner=1").status_code == 200
    assert client.get("/providers/1?partner=99").status_code == 200  # no such partner
    assert client.get("/providers/1?partner=%C2%B2").status_code == 200  # not a number
    assert client.get("/providers/1").status_code == 200  # not from a widget
    stats = runner.invoke("partners", "stats", key, "--days", "7").output
    assert "searches 5, zero results 1, clicks 1, profile views 1" in stats
    assert "top keywords: dry needling (2), kinesiology taping (1)" in stats
    assert "top areas: 787 (3), Austin, TX (1)" in stats
    assert str(AUSTIN[0]) not in stats and "127.0.0.1" not in stats
    as_json = json.loads(runner.invoke("partners", "stats", "--json").output)
    assert as_json[0]["searches"] == 5 and as_json[0]["keywords"][0] == ["dry needling", 2]


def test_a_click_needs_a_listing_id(client: FlaskClient, runner: Runner) -> None:
    key = create(runner)
    response = client.post(f"/api/v1/widget/click?key={key}&id=x", headers={"Origin": SITE})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_id"
    missing = client.get("/api/v1/widget/config", headers={"Origin": SITE})
    assert missing.status_code == 403
    assert missing.get_json()["error"]["code"] == "missing_key"


def test_partner_answers_are_as_documented(directory: Flask, client: FlaskClient,
                                           runner: Runner) -> None:
    from tests.test_openapi import assert_documented

    key = create(runner, "--accent", "#0b6e4f", "--logo", f"{SITE}/logo.png")
    assert_documented(keyed(client, key, postcode="78701", q="dry needling"))
    assert_documented(keyed(client, key, path="/api/v1/widget/config"))
    assert_documented(keyed(client, key, origin=OTHER, postcode="78701"))
    assert_documented(keyed(client, "fk_unknown", postcode="78701"))
    bad_click = client.post(f"/api/v1/widget/click?key={key}&id=x", headers={"Origin": SITE})
    assert_documented(bad_click, "POST")


def test_keys_and_counts_work_on_every_database(any_database_app: Flask) -> None:
    from finder.db import session_scope
    from finder.partners import counts, keys

    app = any_database_app
    load(app, [row("a", "Eastside Dry Needling", near(AUSTIN, 1), services="Dry needling")])
    with session_scope(app) as session:
        partner, key = keys.create(session, "Club", [SITE], preset={}, look={})
        session.commit()
        partner_id = partner.id
    client = app.test_client()
    for q in ("dry needling", "dry needling", "zebra"):
        assert keyed(client, key, postcode="78701", q=q).status_code == 200
    assert client.get(f"/providers/1?partner={partner_id}").status_code == 200
    with session_scope(app) as session:
        totals = counts.stats(session, partner_id, 1)
    assert (totals.searches, totals.zero_results, totals.profile_views) == (3, 1, 1)
    assert totals.keywords == [("dry needling", 2), ("zebra", 1)]
    assert totals.areas == [("787", 3)]


def test_the_embed_page_escapes_what_it_is_given(client: FlaskClient, runner: Runner) -> None:
    key = create(runner)
    hostile = '"><script>alert(1)</script>'
    page = client.get("/embed", query_string={"key": key, "postcode": hostile, "q": hostile})
    text = page.get_data(as_text=True)
    assert "<script>alert(1)" not in text
    assert "&#34;&gt;&lt;script&gt;" in text or "&quot;&gt;&lt;script&gt;" in text


def test_a_visitor_over_their_own_limit_still_hears_why_on_the_partner_page(
        directory: Flask, runner: Runner) -> None:
    key = create(runner)
    directory.extensions["finder.rate_limits"].items = limits.parse_many("1/minute")
    client = directory.test_client()
    assert keyed(client, key, postcode="78701").status_code == 200
    limited = keyed(client, key, postcode="78701")
    assert limited.status_code == 429
    assert limited.headers["Access-Control-Allow-Origin"] == SITE
    assert keyed(client, key, origin=OTHER, postcode="78701").headers.get(
        "Access-Control-Allow-Origin") is None


def test_a_partner_s_429_tells_the_partner_s_limit(directory: Flask, client: FlaskClient,
                                                   runner: Runner) -> None:
    key = create(runner, "--rate-limit", "1/minute")
    keyed(client, key, postcode="78701")
    limited = keyed(client, key, postcode="78701")
    assert limited.status_code == 429
    assert limited.headers["X-RateLimit-Limit"] == "1"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
