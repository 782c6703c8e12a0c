"""Shared browser checks: a real Chromium, axe-core audits and a guard on third-party requests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, Request, sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
NARROW = {"viewport": {"width": 320, "height": 640}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}

PageFactory = Callable[..., Page]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """One Chromium for the whole run, started when a test first needs it: each test opens
    its own contexts (cookies, storage and cache of their own) and closes them."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def browser(chromium: Browser) -> Browser:
    """The Chromium of the browser tests (the name the test modules import)."""
    return chromium


class RequestLog:
    """Every URL a browser context asked for, to prove pages call no other host."""

    def __init__(self, own_url: str) -> None:
        self.own_host = urlsplit(own_url).netloc
        self.urls: list[str] = []

    def record(self, request: Request) -> None:
        self.urls.append(request.url)

    def foreign(self) -> list[str]:
        return [url for url in self.urls
                if urlsplit(url).scheme in ("http", "https", "ws", "wss")
                and urlsplit(url).netloc != self.own_host]


def page_factory(browser: Browser, base_url: str) -> Iterator[PageFactory]:
    """Yield a function opening pages in fresh contexts; fail if any asked another host."""
    contexts: list[tuple[BrowserContext, RequestLog]] = []

    def open_(**options: Any) -> Page:
        context = browser.new_context(base_url=base_url, **options)
        context.set_default_timeout(10_000)
        log = RequestLog(base_url)
        context.on("request", log.record)
        contexts.append((context, log))
        return context.new_page()

    yield open_
    foreign = [url for _, log in contexts for url in log.foreign()]
    for context, _ in contexts:
        context.close()
    assert foreign == [], f"pages asked other hosts: {foreign}"


_AXE = Axe()


def assert_accessible(page: Page) -> None:
    """Run axe-core on the page as it stands; fail with its report on any violation."""
    results = _AXE.run(page)
    assert results.violations_count == 0, results.generate_report()


SHOTS = Path("/tmp/finder-shots")


def shot(page: Page, name: str) -> None:
    """Save a full-page screenshot to look at (desktop and phone, for every page touched)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
