"""The Nominatim geocoder against a real local HTTP server that speaks Nominatim's /search."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from finder import create_app
from finder.db import get_database
from finder.errors import (
    ConfigError,
    GeocoderUnavailable,
    GeocodingError,
    UnknownCity,
    UnknownPostcode,
)
from finder.geocode import GeocoderChain, Place, get_geocoder
from finder.geocode.gazetteer import Gazetteer
from finder.geocode.online import GeocodeCache, NominatimGeocoder
from finder.search import get_backend

USER_AGENT = "finder-tests/1.0 (test@example.org)"
AUSTIN = {"lat": "30.2713", "lon": "-97.7426", "display_name": "78701, Austin, Texas, USA"}
TIMEOUT = 0.3


@dataclass(frozen=True)
class Request:
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=list)
    delay: float = 0.0


class FakeNominatim:
    """A threaded HTTP server on 127.0.0.1 answering /search as Nominatim does."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.reply = Reply()
        self.release = threading.Event()  # ends any deliberate delay at teardown
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the name http.server calls
                url = urlsplit(self.path)
                params = {key: values[-1] for key, values in parse_qs(url.query).items()}
                fake.requests.append(Request(url.path, params, dict(self.headers.items())))
                reply = fake.reply
                if reply.delay:
                    fake.release.wait(reply.delay)
                payload = json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.domain = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def answer(self, status: int = 200, body: Any = None, delay: float = 0.0) -> None:
        self.reply = Reply(status, [] if body is None else body, delay)

    def __enter__(self) -> FakeNominatim:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()  # joins the handler threads
        self.thread.join()


@pytest.fixture
def nominatim(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNominatim]:
    # geopy honours system proxies; the fake server is local, so never go through one.
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with FakeNominatim() as server:
        yield server


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return tmp_path / "geocode-cache.sqlite3"


def make_geocoder(server: FakeNominatim, cache_path: Path) -> NominatimGeocoder:
    return NominatimGeocoder(domain=server.domain, scheme="http", user_agent=USER_AGENT,
                             timeout=TIMEOUT, min_delay=0.01, cache=GeocodeCache(cache_path))


@pytest.fixture
def geocoder(nominatim: FakeNominatim, cache_path: Path) -> NominatimGeocoder:
    return make_geocoder(nominatim, cache_path)


# -- answers ---------------------------------------------------------------------------------


def test_postcode_found_returns_a_nominatim_place(
    nominatim: FakeNominatim, geocoder: NominatimGeocoder
) -> None:
    nominatim.answer(body=[AUSTIN])
    place = geocoder.postcode(" 78701 ", "US")
    assert (place.lat, place.lon) == (30.2713, -97.7426)
    assert place.label == "78701, Austin, Texas, USA"
    assert (place.precision, place.source, place.country) == ("postcode", "nominatim", "US")
    assert place.timezone == "America/Chicago"


@pytest.mark.parametrize(
    ("method", "text", "precision", "sent"),
    [
        ("postcode", " 78701 ", "postcode", {"postalcode": "78701"}),
        ("city", " Austin ", "city", {"city": "Austin"}),
        ("address", " 1100 Congress Ave, Austin ", "address", {"q": "1100 Congress Ave, Austin"}),
    ],
)
def test_lookup_sends_the_query_and_reports_its_precision(
    nominatim: FakeNominatim, geocoder: NominatimGeocoder, method: str, text: str,
    precision: str, sent: dict[str, str],
) -> None:
    nominatim.answer(body=[AUSTIN])
    place = getattr(geocoder, method)(text, "US")
    assert isinstance(place, Place)
    assert place.precision == precision
    assert place.source == "nominatim"
    request = nominatim.requests[0]
    assert request.path == "/search"
    assert {key: request.params[key] for key in sent} == sent
    assert request.params["format"] == "json"


def test_request_carries_the_user_agent_and_the_country_restriction(
    nominatim: FakeNominatim, geocoder: NominatimGeocoder
) -> None:
    nominatim.answer(body=[AUSTIN])
    geocoder.postcode("78701", "US")
    [request] = nominatim.requests
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.params["countrycodes"] == "us"
    assert request.params["limit"] == "1"


def test_second_identical_lookup_is_served_from_the_cache(
    nominatim: FakeNominatim, geocoder: NominatimGeocoder
) -> None:
    nominatim.answer(body=[AUSTIN])
    first = geocoder.postcode("78701", "US")
    second = geocoder.postcode("78701", "US")
    assert first == second
    assert len(nominatim.requests) == 1


def test_cache_persists_for_a_new_geocoder_with_the_same_file(
    nominatim: FakeNominatim, geocoder: NominatimGeocoder, cache_path: Path
) -> None:
    nominatim.answer(body=[AUSTIN])
    first = geocoder.city("Austin", "US")
    nominatim.answer(status=500)  # a second request would now fail loudly
    again = make_geocoder(nominatim, cache_path).city("Austin", "US")
    assert again == first
    assert len(nominatim.requests) == 1


def test_cache_does_not_mix_countries(
    nominatim: FakeNominatim, geocoder: NominatimGeocoder
) -> None:
    nominatim.answer(body=[AUSTIN])
    geocoder.postcode("2000", "US")
    geocoder.postcode("2000", "AU")
    assert [r.params["countrycodes"] for r in nominatim.requests] == ["us", "au"]


# -- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "error", "code"),
    [
        ("postcode", UnknownPostcode, "unknown_postcode"),
        ("city", UnknownCity, "unknown_city"),
        ("address", GeocodingError, "geocoding_failed"),
    ],
)
def test_empty_result_raises_not_found(
    nominatim: FakeNominatim, geocoder: NominatimGeocoder, method: str,
    error: type[GeocodingError], code: str,
) -> None:
    nominatim.answer(body=[])
    with pytest.raises(error) as raised:
        getattr(geocoder, method)("Nowhere 99", "US")
    assert type(raised.value) is error
    assert raised.value.code == code
    assert "Nowhere 99" in raised.value.message


def test_not_found_is_not_cached(nominatim: FakeNominatim, geocoder: NominatimGeocoder) -> None:
    nominatim.answer(body=[])
    with pytest.raises(UnknownPostcode):
        geocoder.postcode("78701", "US")
    nominatim.answer(body=[AUSTIN])
    assert geocoder.postcode("78701", "US").source == "nominatim"
    assert len(nominatim.requests) == 2


@pytest.mark.parametrize("status", [500, 429, 503, 403])
def test_http_error_raises_geocoder_unavailable(
    nominatim: FakeNominatim, geocoder: NominatimGeocoder, status: int
) -> None:
    nominatim.answer(status=status, body={"error": "nope"})
    with pytest.raises(GeocoderUnavailable) as raised:
        geocoder.postcode("78701", "US")
    assert raised.value.code == "geocoder_unavailable"
    assert raised.value.status == 503
    assert nominatim.domain in raised.value.message
    assert nominatim.requests  # it really asked


def test_failure_is_not_cached(nominatim: FakeNominatim, geocoder: NominatimGeocoder) -> None:
    nominatim.answer(status=500)
    with pytest.raises(GeocoderUnavailable):
        geocoder.postcode("78701", "US")
    nominatim.answer(body=[AUSTIN])
    assert geocoder.postcode("78701", "US").lat == 30.2713


def test_timeout_raises_geocoder_unavailable(
    nominatim: FakeNominatim, geocoder: NominatimGeocoder
) -> None:
    nominatim.answer(body=[AUSTIN], delay=TIMEOUT * 4)
    with pytest.raises(GeocoderUnavailable) as raised:
        geocoder.postcode("78701", "US")
    assert raised.value.code == "geocoder_unavailable"


def test_unparseable_answer_raises_geocoder_unavailable(
    nominatim: FakeNominatim, geocoder: NominatimGeocoder
) -> None:
    nominatim.answer(body={"error": "Internal Server Error: database offline"})
    with pytest.raises(GeocoderUnavailable, match="database offline"):
        geocoder.postcode("78701", "US")


def test_unreachable_service_raises_geocoder_unavailable(cache_path: Path) -> None:
    with FakeNominatim() as server:
        domain = server.domain
    gone = NominatimGeocoder(domain=domain, scheme="http", user_agent=USER_AGENT,
                             timeout=TIMEOUT, min_delay=0.01, cache=GeocodeCache(cache_path))
    with pytest.raises(GeocoderUnavailable):
        gone.postcode("78701", "US")


# -- configuration ---------------------------------------------------------------------------


def online_app(data_dir: Path, **config: Any) -> Flask:
    return create_app({"DATA_DIR": str(data_dir), "TESTING": True, **config})


def close(app: Flask) -> None:
    get_backend(app).close()
    get_database(app).dispose()


def test_configured_chain_asks_the_gazetteer_first(
    nominatim: FakeNominatim, data_dir: Path
) -> None:
    app = online_app(
        data_dir, GEOCODERS=["gazetteer", "nominatim"], NOMINATIM_DOMAIN=nominatim.domain,
        NOMINATIM_SCHEME="http", NOMINATIM_USER_AGENT=USER_AGENT, GEOCODER_TIMEOUT=TIMEOUT,
        GEOCODER_MIN_DELAY=0.01,
    )
    try:
        chain = get_geocoder(app)
        assert isinstance(chain, GeocoderChain)
        assert [type(g) for g in chain.geocoders] == [Gazetteer, NominatimGeocoder]
        assert chain.locates_addresses
        nominatim.answer(body=[AUSTIN])
        assert chain.postcode("78701", "US").source == "gazetteer"
        assert nominatim.requests == []
        # A ZIP the offline data lacks goes online, with the configured user agent.
        assert chain.postcode("00000", "US").source == "nominatim"
        [request] = nominatim.requests
        assert request.params["postalcode"] == "00000"
        assert request.headers["User-Agent"] == USER_AGENT
        assert (data_dir / "geocode-cache.sqlite3").exists()
        # Street addresses skip the offline gazetteer and go straight online.
        nominatim.answer(body=[AUSTIN])
        assert chain.address("1100 Congress Ave, Austin", "US").precision == "address"
        assert nominatim.requests[-1].params["q"] == "1100 Congress Ave, Austin"
    finally:
        close(app)


def test_default_chain_is_offline_only(data_dir: Path) -> None:
    app = online_app(data_dir)
    try:
        chain = get_geocoder(app)
        assert [type(g) for g in chain.geocoders] == [Gazetteer]
        assert not chain.locates_addresses
    finally:
        close(app)


def test_unknown_geocoder_name_raises_config_error(data_dir: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        online_app(data_dir, GEOCODERS=["gazetteer", "google"])
    message = raised.value.message
    assert "FINDER_GEOCODERS" in message
    assert "google" in message
    assert "gazetteer" in message and "nominatim" in message  # the names to choose from


def test_empty_geocoder_list_raises_config_error(data_dir: Path) -> None:
    with pytest.raises(ConfigError):
        app = online_app(data_dir, GEOCODERS=[])
        close(app)
