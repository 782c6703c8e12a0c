"""The partner embed in a real Chromium: a partner's page on another origin (another local
port) embeds the search by script and by iframe against a real `finder serve`; a page on an
origin the key is not bound to gets nothing; disabled and rotated keys stop; hostile host
CSS and a hostile listing name change nothing; keyboard-only use works; axe-core finds no
violation; and the partner's counts go up by exactly what was done."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect

from finder import create_app
from finder.db import get_database, session_scope
from finder.geocode import get_geocoder
from finder.importer import import_documents
from finder.partners import counts, keys
from finder.search import get_backend
from tests import browser as browsing
from tests.browser import DESKTOP, NARROW, PHONE, assert_accessible, shot
from tests.conftest import AUSTIN, TEST_CONFIG, Server, near, serve_directory
from tests.postgres import free_port

browser = browsing.browser
HOSTILE_NAME = '<img src=x onerror="window.pwned=1">Hostile & Sons'
HOSTILE_CSS = """
  * { all: unset !important; }
  div, section, form, ol, li { display: none !important; }
  button, input, select { color: transparent !important; font-size: 2px !important; }
  finder-search { opacity: 0.1; transform: scale(0.2); }
"""


def _clinic(external_id: str, name: str, at: tuple[float, float], **fields: Any
            ) -> dict[str, Any]:
    return {"external_id": external_id, "name": name, "lat": at[0], "lon": at[1],
            "address": {"address_1": "100 Congress Ave", "city": "Austin", "region": "TX",
                        "postcode": "78701"},
            "phone": "512-555-0142", "services": ["Dry needling", "Physical therapy"],
            "hours": "Mon-Sun 00:00-23:59", **fields}


# Fourteen clinics, so a page of ten has more to load.
DOCUMENTS = [
    _clinic("first", "Congress Dry Needling", near(AUSTIN, 0.3), techniques=["electrical"],
            practitioners=[{"name": "Rosa Quintero", "credentials": ["PT", "DPT"],
                            "certifications": [{"issuer": "Northridge", "title": "Level 2",
                                                "earned": "2022-05-01"}]}]),
    _clinic("hostile", HOSTILE_NAME, near(AUSTIN, 0.6)),
    *[_clinic(f"c{n}", f"Clinic Number {n}", near(AUSTIN, 1 + n * 0.7, n * 25))
      for n in range(11)],
    # Not verified for long: its result says so.
    _clinic("c11", "Clinic Number 11", near(AUSTIN, 8.7, 275), last_verified="2025-01-06"),
]


@dataclass
class Partners:
    finder: Server
    pages: str  # the partner site, whose origin the keys are bound to
    foreign: str  # the same pages on an origin no key is bound to
    key: str
    partner_id: int
    data_dir: Path

    _app: Flask | None = None

    def app(self) -> Flask:
        if self._app is None:
            self._app = create_app({"DATA_DIR": str(self.data_dir), **TEST_CONFIG})
        return self._app

    def close(self) -> None:
        if self._app is not None:
            get_backend(self._app).close()
            get_database(self._app).dispose()

    def add(self, name: str, **look: Any) -> tuple[int, str]:
        app = self.app()
        with session_scope(app) as session:
            partner, key = keys.create(session, name, [self.pages], preset={}, look=look)
            session.commit()
            return partner.id, key

    def change(self, partner_id: int, **values: Any) -> str:
        """Disable (enabled=False) or rotate (rotate=True) a partner; return its key if new."""
        from finder.partners.models import Partner

        app = self.app()
        with session_scope(app) as session:
            partner = session.get(Partner, partner_id)
            assert partner is not None
            new = keys.rotate(session, partner) if values.pop("rotate", False) else ""
            for name, value in values.items():
                setattr(partner, name, value)
            session.commit()
            return new

    def stats(self, partner_id: int) -> counts.Stats:
        with session_scope(self.app()) as session:
            return counts.stats(session, partner_id, 1)


class PartnerSite(BaseHTTPRequestHandler):
    """A partner's pages: /script/KEY, /hostile/KEY, /iframe/KEY, /target/KEY."""

    finder_url = ""

    def do_GET(self) -> None:  # noqa: N802 (the handler's name)
        kind, _, key = self.path.strip("/").partition("/")
        finder = self.finder_url
        script = f'<script src="{finder}/widget.js" data-finder-key="{key}" async></script>'
        bodies = {
            "script": f"<h1>Riverside Running Club</h1>{script}",
            # Hiding the partner's own containers hides what is in them; the widget's own
            # element and everything inside it must not change.
            "hostile": f"<style>{HOSTILE_CSS}</style><h1>Riverside Running Club</h1>{script}",
            "target": f"<h1>Riverside Running Club</h1><aside><div data-finder-widget id=here>"
                      f"</div></aside><footer>{script}</footer>",
            "deeplink": f'<script src="{finder}/widget.js" data-finder-key="{key}" '
                        'data-postcode="78701" data-q="dry needling" data-radius="10" '
                        "async></script>",
            "iframe": f'<h1>Riverside Running Club</h1><iframe src="{finder}/embed?key={key}" '
                      'title="Find a dry needling provider" width="100%" height="640" '
                      f'allow="geolocation"></iframe><script src="{finder}/embed.js" async>'
                      "</script>",
        }
        if kind not in bodies:
            self.send_error(404)
            return
        page = ("<!doctype html><html lang=en><head><meta charset=utf-8>"
                "<meta name=viewport content='width=device-width, initial-scale=1'>"
                "<title>Riverside Running Club</title>"
                "<style>body { margin: 0 }</style></head>"
                f"<body><main>{bodies[kind]}</main><script>window.events = [];"
                "for (const name of ['finder:search', 'finder:select']) "
                "document.addEventListener(name, (e) => window.events.push("
                "{type: e.type, detail: e.detail}));</script></body></html>")
        data = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def partners(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path
             ) -> Iterator[Partners]:
    port = free_port()
    pages = f"http://127.0.0.1:{port}"
    made: dict[str, Any] = {}

    def fill(app: Flask) -> None:
        with session_scope(app) as session:
            report = import_documents(session, get_geocoder(app), enumerate(DOCUMENTS, 1),
                                      default_country="US")
            assert report.rejected == [], report.rejected
            partner, key = keys.create(session, "Riverside Running Club", [pages],
                                       preset={}, look={"accent": "#0b6e4f"})
            session.commit()
            made.update(key=key, partner_id=partner.id, data_dir=app.config["DATA_DIR"])

    servers = serve_directory(tmp_path_factory, migrated_database, "widget", fill)
    finder = next(servers)
    handler = type("Site", (PartnerSite,), {"finder_url": finder.url})
    site = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    found = Partners(finder, pages, f"http://localhost:{port}", made["key"], made["partner_id"],
                     Path(made["data_dir"]))
    yield found
    found.close()
    site.shutdown()
    site.server_close()
    next(servers, None)


@pytest.fixture
def context(browser: Browser, partners: Partners) -> Iterator[BrowserContext]:
    """A browser context that fails the test if anything asks a host other than the two."""
    context = _context(browser, DESKTOP)
    context.set_default_timeout(10_000)
    asked: list[str] = []
    context.on("request", lambda request: asked.append(request.url))
    yield context
    allowed = (partners.pages, partners.foreign, partners.finder.url)
    assert [url for url in asked if not url.startswith(allowed)] == []
    assert context.cookies() == []  # the widget sets none
    context.close()


def _context(browser: Browser, options: dict[str, Any]) -> BrowserContext:
    return browser.new_context(**options)


def _widget(page: Page) -> Any:
    return page.locator("finder-search")


def _search(scope: Any, postcode: str = "78701", q: str = "") -> None:
    scope.get_by_label("Postcode or city").fill(postcode)
    scope.get_by_label("Keywords (optional)").fill(q)
    scope.get_by_role("button", name="Search", exact=True).click()


def _result_names(scope: Any) -> list[str]:
    return [name.strip() for name in scope.locator("li h3").all_inner_texts()]


def _api_names(partners: Partners, **params: str) -> list[str]:
    import json
    import urllib.parse
    import urllib.request

    query = urllib.parse.urlencode({"key": partners.key, **params})
    with urllib.request.urlopen(f"{partners.finder.url}/api/v1/search?{query}") as response:
        return [result["name"] for result in json.load(response)["results"]]


def test_script_mode_searches_ranks_and_follows_a_result(context: BrowserContext,
                                                         partners: Partners) -> None:
    page = context.new_page()
    page.goto(f"{partners.pages}/script/{partners.key}")
    widget = _widget(page)
    _search(widget, q="dry needling")
    expect(widget.locator("li h3").first).to_be_visible()
    assert _result_names(widget) == _api_names(partners, postcode="78701", q="dry needling",
                                               radius="25", limit="10")
    expect(widget.get_by_role("status")).to_contain_text("found")
    first = widget.locator("li").first
    expect(first).to_contain_text("Congress Dry Needling")
    expect(first).to_contain_text("mi")
    expect(first).to_contain_text("Electrical dry needling")
    expect(first).to_contain_text("Certified")
    expect(first).to_contain_text("Open now")
    expect(first.locator("a[href^='tel:']")).to_have_count(1)
    link = first.locator("h3 a")
    assert "noopener" in (link.get_attribute("rel") or "")
    assert link.get_attribute("target") == "_blank"
    with context.expect_page() as opened:
        link.click()
    profile = opened.value
    profile.wait_for_load_state()
    assert re.search(r"/providers/\d+\?partner=\d+$", profile.url)
    expect(profile.locator("h1")).to_contain_text("Congress Dry Needling")
    assert profile.evaluate("window.opener") is None  # the partner's page stays safe
    events = page.evaluate("window.events")
    assert [event["type"] for event in events] == ["finder:search", "finder:select"]
    assert events[1]["detail"]["name"] == "Congress Dry Needling"
    shot(page, "widget-script-desktop")


def test_load_more_appends_the_next_page(context: BrowserContext, partners: Partners) -> None:
    page = context.new_page()
    page.goto(f"{partners.pages}/script/{partners.key}")
    widget = _widget(page)
    _search(widget)
    expect(widget.locator("li h3")).to_have_count(10)
    widget.get_by_role("button", name="Load more").click()
    expect(widget.locator("li h3")).to_have_count(14)
    expect(widget.get_by_role("button", name="Load more")).to_have_count(0)
    assert _result_names(widget) == _api_names(partners, postcode="78701", radius="25",
                                               limit="14")
    old = widget.locator("li.res", has=page.get_by_role("link", name="Clinic Number 11",
                                                        exact=True))
    expect(old).to_contain_text("May not be up to date: call to check before you go.")
    expect(widget.locator("li", has_text="May not be up to date")).to_have_count(1)


def test_a_deep_link_searches_at_once(context: BrowserContext, partners: Partners) -> None:
    page = context.new_page()
    page.goto(f"{partners.pages}/deeplink/{partners.key}")
    widget = _widget(page)
    expect(widget.locator("li h3").first).to_be_visible()
    expect(widget.get_by_label("Postcode or city")).to_have_value("78701")
    assert _result_names(widget) == _api_names(partners, postcode="78701", q="dry needling",
                                               radius="10", limit="10")


def test_errors_are_said_clearly(context: BrowserContext, partners: Partners) -> None:
    page = context.new_page()
    page.goto(f"{partners.pages}/script/{partners.key}")
    widget = _widget(page)
    _search(widget, postcode="00000")
    expect(widget.get_by_text(re.compile("postcode", re.I)).first).to_be_visible()
    expect(widget.locator("li h3")).to_have_count(0)
    expect(widget.get_by_label("Postcode or city")).to_have_value("00000")  # kept as typed
    assert_accessible(page)


def test_iframe_mode_searches_and_fits_its_content(context: BrowserContext,
                                                   partners: Partners) -> None:
    page = context.new_page()
    page.goto(f"{partners.pages}/iframe/{partners.key}")
    frame = page.frame_locator("iframe")
    _search(frame.locator("finder-search"), q="dry needling")
    expect(frame.locator("li h3").first).to_be_visible()
    names = [name.strip() for name in frame.locator("li h3").all_inner_texts()]
    assert names == _api_names(partners, postcode="78701", q="dry needling", radius="25",
                               limit="10")
    # The resizer fits the frame to the widget's height.
    iframe = page.locator("iframe")
    expect(iframe).not_to_have_attribute("height", "640")
    content = frame.locator("finder-search").bounding_box()
    assert content is not None
    assert abs(int(iframe.get_attribute("height") or 0) - content["height"]) < 40
    with context.expect_page() as opened:
        frame.locator("li h3 a").first.click()
    assert re.search(r"/providers/\d+\?partner=\d+$", opened.value.url)
    shot(page, "widget-iframe-desktop")


def test_a_page_on_another_origin_gets_no_results(context: BrowserContext,
                                                  partners: Partners) -> None:
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text))
    page.goto(f"{partners.foreign}/script/{partners.key}")
    widget = _widget(page)
    expect(widget.get_by_text(re.compile("could not", re.I)).first).to_be_visible()
    expect(widget.locator("li h3")).to_have_count(0)
    # A direct call from that page is refused by CORS too.
    error = page.evaluate(
        "(url) => fetch(url).then(() => 'answered', (e) => e.name)",
        f"{partners.finder.url}/api/v1/search?postcode=78701&key={partners.key}")
    assert error == "TypeError"
    assert any("CORS" in text or "Access-Control" in text for text in refused)


def test_the_iframe_is_blocked_on_another_origin(context: BrowserContext,
                                                 partners: Partners) -> None:
    page = context.new_page()
    page.goto(f"{partners.foreign}/iframe/{partners.key}")
    page.wait_for_timeout(1000)
    frame = next(frame for frame in page.frames if frame != page.main_frame)
    assert frame.locator("finder-search").count() == 0  # never rendered: frame-ancestors


def test_disabled_and_rotated_keys_stop_working(context: BrowserContext,
                                                partners: Partners) -> None:
    partner_id, key = partners.add("Second Club")
    page = context.new_page()
    page.goto(f"{partners.pages}/script/{key}")
    _search(_widget(page))
    expect(_widget(page).locator("li h3").first).to_be_visible()

    new_key = partners.change(partner_id, rotate=True)
    page.goto(f"{partners.pages}/script/{key}")
    expect(_widget(page).locator("[role=alert], [role=status]").first).not_to_be_empty()
    expect(_widget(page).get_by_label("Postcode or city")).to_have_count(0)
    page.goto(f"{partners.pages}/script/{new_key}")
    _search(_widget(page))
    expect(_widget(page).locator("li h3").first).to_be_visible()

    partners.change(partner_id, enabled=False)
    page.goto(f"{partners.pages}/script/{new_key}")
    expect(_widget(page).get_by_label("Postcode or city")).to_have_count(0)
    expect(_widget(page).locator("li h3")).to_have_count(0)


STYLE_PROBE = """(widget) => {
  const root = widget.shadowRoot;
  const seen = [widget, ...root.querySelectorAll("form, label, input, select, button, li, h3 a")];
  return seen.map((el) => {
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    return [el.tagName, style.display, style.visibility, style.opacity, style.transform,
            style.color, style.backgroundColor, style.fontSize, style.fontFamily,
            Math.round(box.width), Math.round(box.height)];
  });
}"""


def test_hostile_host_css_changes_nothing(browser: Browser, partners: Partners) -> None:
    seen = []
    for kind in ("script", "hostile"):
        context = _context(browser, DESKTOP)
        page = context.new_page()
        page.goto(f"{partners.pages}/{kind}/{partners.key}")
        widget = _widget(page)
        _search(widget, q="dry needling")
        expect(widget.locator("li h3").first).to_be_visible()
        expect(widget.get_by_role("button", name="Search", exact=True)).to_be_visible()
        seen.append(widget.evaluate(STYLE_PROBE))
        if kind == "hostile":
            shot(page, "widget-hostile-css")
        context.close()
    plain, hostile = seen
    assert len(plain) > 20
    assert hostile == plain


def test_a_hostile_listing_name_is_shown_as_text(context: BrowserContext,
                                                 partners: Partners) -> None:
    page = context.new_page()
    page.goto(f"{partners.pages}/script/{partners.key}")
    widget = _widget(page)
    _search(widget, q="dry needling")
    expect(widget.locator("li h3", has_text="Hostile & Sons")).to_have_text(HOSTILE_NAME)
    assert widget.locator("li img").count() == 0
    assert page.evaluate("window.pwned") is None


def test_keyboard_only_use_works_end_to_end(context: BrowserContext,
                                            partners: Partners) -> None:
    page = context.new_page()
    page.goto(f"{partners.pages}/script/{partners.key}")
    widget = _widget(page)
    expect(widget.get_by_label("Postcode or city")).to_be_visible()
    field = widget.get_by_label("Postcode or city")
    for _ in range(10):  # Tab from the top of the page to the first field
        page.keyboard.press("Tab")
        if field.evaluate("(el) => el === el.getRootNode().activeElement"):
            break
    assert field.evaluate("(el) => el === el.getRootNode().activeElement")
    outline = field.evaluate("(el) => getComputedStyle(el).outlineStyle")
    assert outline != "none"  # focus is visible
    page.keyboard.type("78701")
    page.keyboard.press("Tab")
    page.keyboard.type("dry needling")
    page.keyboard.press("Enter")
    expect(widget.locator("li h3").first).to_be_visible()
    link = widget.locator("li h3 a").first
    for _ in range(15):
        page.keyboard.press("Tab")
        if link.evaluate("(el) => el === el.getRootNode().activeElement"):
            break
    assert link.evaluate("(el) => el === el.getRootNode().activeElement")
    with context.expect_page() as opened:
        page.keyboard.press("Enter")
    assert "/providers/" in opened.value.url


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_widget_and_the_embed_page_pass_axe(context: BrowserContext, partners: Partners,
                                                scheme: str) -> None:
    page = context.new_page()
    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    page.goto(f"{partners.pages}/script/{partners.key}")
    _search(_widget(page), q="dry needling")
    expect(_widget(page).locator("li h3").first).to_be_visible()
    assert_accessible(page)
    embed = context.new_page()
    embed.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    embed.goto(f"{partners.finder.url}/embed?key={partners.key}&postcode=78701")
    expect(_widget(embed).locator("li h3").first).to_be_visible()
    assert_accessible(embed)
    assert embed.evaluate("localStorage.length + sessionStorage.length") == 0
    shot(page, f"widget-{scheme}")


@pytest.mark.parametrize("device", ["phone", "narrow"])
def test_the_widget_fits_a_phone(browser: Browser, partners: Partners, device: str) -> None:
    context = _context(browser, PHONE if device == "phone" else NARROW)
    page = context.new_page()
    page.goto(f"{partners.pages}/script/{partners.key}")
    _search(_widget(page), q="dry needling")
    expect(_widget(page).locator("li h3").first).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"]  # type: ignore[index]
    shot(page, f"widget-script-{device}")
    context.close()


def test_counts_go_up_by_exactly_the_searches_and_clicks(context: BrowserContext,
                                                         partners: Partners) -> None:
    partner_id, key = partners.add("Counting Club")
    page = context.new_page()
    page.goto(f"{partners.pages}/script/{key}")
    widget = _widget(page)
    _search(widget, q="dry needling")
    expect(widget.locator("li h3").first).to_be_visible()
    _search(widget, q="zzzz qqqq")  # finds nothing
    expect(widget.locator("li h3")).to_have_count(0)
    _search(widget, q="")
    expect(widget.locator("li h3").first).to_be_visible()
    for index in (0, 1):
        with context.expect_page() as opened:
            widget.locator("li h3 a").nth(index).click()
        opened.value.wait_for_load_state()
        opened.value.close()
    page.wait_for_timeout(500)  # the click beacons
    stats = partners.stats(partner_id)
    assert (stats.searches, stats.zero_results, stats.clicks, stats.profile_views) == (3, 1, 2, 2)
    assert dict(stats.keywords) == {"dry needling": 1, "zzzz qqqq": 1}
    assert dict(stats.areas) == {"787": 3}


def test_widened_and_did_you_mean_messages_are_shown(context: BrowserContext,
                                                     partners: Partners) -> None:
    page = context.new_page()
    page.goto(f"{partners.pages}/script/{partners.key}")
    widget = _widget(page)
    widget.get_by_label("Distance").select_option("5")
    _search(widget, q="clinic number 11")  # 8.7 mi away: beyond the radius
    expect(widget.get_by_text(re.compile(r"No providers within 5 mi", re.I))).to_be_visible()
    expect(widget.locator("li h3")).to_have_text(["Clinic Number 11"])
    widget.get_by_label("Distance").select_option("25")
    _search(widget, q="congres")  # a typo
    expect(widget.get_by_text(re.compile("Showing results for"))).to_contain_text("congress")
    expect(widget.locator("li h3").first).to_have_text("Congress Dry Needling")


def test_the_widget_renders_into_its_marked_element(context: BrowserContext,
                                                   partners: Partners) -> None:
    page = context.new_page()
    page.goto(f"{partners.pages}/target/{partners.key}")
    expect(page.locator("#here finder-search")).to_have_count(1)
    expect(page.locator("footer finder-search")).to_have_count(0)
    _search(page.locator("#here finder-search"))
    expect(page.locator("#here finder-search li h3").first).to_be_visible()


def test_the_partner_s_theme_is_applied(context: BrowserContext, partners: Partners) -> None:
    _, key = partners.add("Purple Club", accent="#6a1b9a", radius=0, scheme="dark",
                          font="Georgia, serif")
    page = context.new_page()
    page.goto(f"{partners.pages}/script/{key}")
    button = _widget(page).get_by_role("button", name="Search", exact=True)
    expect(button).to_be_visible()
    style = button.evaluate("(el) => { const s = getComputedStyle(el); return "
                            "[s.borderTopLeftRadius, s.fontFamily]; }")
    assert style[0] == "0px" and style[1].startswith("Georgia, serif")
    background = _widget(page).evaluate(
        "(el) => getComputedStyle(el.shadowRoot.querySelector('.root')).backgroundColor")
    assert background == "rgb(18, 18, 18)"  # dark, whatever the visitor's own setting
    assert_accessible(page)


def test_each_result_offers_the_report_form_in_a_new_tab(context: BrowserContext,
                                                         partners: Partners) -> None:
    page = context.new_page()
    page.goto(f"{partners.pages}/script/{partners.key}")
    widget = _widget(page)
    _search(widget, q="dry needling")
    first = widget.locator("li").first
    expect(first).to_contain_text("Congress Dry Needling")
    report = first.get_by_role("link", name="Report incorrect information about Congress "
                                            "Dry Needling")
    assert report.get_attribute("target") == "_blank"
    assert "noopener" in (report.get_attribute("rel") or "")
    with context.expect_page() as opened:
        report.click()
    form = opened.value
    form.wait_for_load_state()
    assert re.search(r"/providers/\d+/report$", form.url)
    assert form.url.startswith(partners.finder.url)
    expect(form.locator("h1")).to_have_text("Report incorrect information")
    expect(form.locator("main")).to_contain_text("Congress Dry Needling")
    page.wait_for_timeout(300)  # a click beacon would have gone by now
    assert not any(event["type"] == "finder:select" for event in page.evaluate("window.events"))
    # The form, a page of the directory's own site, keeps its CSRF token in the directory's
    # session cookie; the widget itself still sets none (checked after every test).
    assert [cookie["name"] for cookie in context.cookies(partners.finder.url)] == ["session"]
    context.clear_cookies()
