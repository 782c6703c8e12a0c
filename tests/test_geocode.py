"""The offline gazetteer and the geocoder chain: postcodes and cities, offline, never a guess."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from geopy.distance import geodesic

from finder.errors import (
    GeocodingError,
    InvalidPostcode,
    UnknownCity,
    UnknownPostcode,
    UnsupportedCountry,
)
from finder.geocode import Geocoder, GeocoderChain, Place
from finder.geocode.gazetteer import Gazetteer


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    """One gazetteer for the module: loading every US ZIP takes a moment."""
    return Gazetteer()


def km_between(place: Place, point: tuple[float, float]) -> float:
    return float(geodesic((place.lat, place.lon), point).km)


AUSTIN_78701 = (30.2713, -97.7426)
DOWNTOWN_TORONTO = (43.65, -79.37)
SYDNEY_CBD = (-33.87, 151.21)
WELLINGTON = (-41.29, 174.78)
CENTRAL_LONDON = (51.51, -0.13)


# -- US ZIP codes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", ["78701", "78701-1234", "78701 1234", "787011234", " 78701 ", "\t78701\n"]
)
def test_us_zip_spellings_resolve_to_the_five_digit_zip(gazetteer: Gazetteer, code: str) -> None:
    place = gazetteer.postcode(code, "US")
    assert (place.lat, place.lon) == AUSTIN_78701
    assert place.postcode == "78701"
    assert place.label == "78701, Austin, TX"
    assert (place.precision, place.source, place.country) == ("postcode", "gazetteer", "US")
    assert (place.city, place.region) == ("Austin", "TX")


@pytest.mark.parametrize("country", ["US", "us", " Us "])
def test_country_code_is_case_and_space_insensitive(gazetteer: Gazetteer, country: str) -> None:
    place = gazetteer.postcode("78701", country)
    assert place.country == "US"
    assert place.postcode == "78701"


@pytest.mark.parametrize(
    ("code", "city", "region", "point"),
    [
        ("53130", "Hales Corners", "WI", (42.94, -88.05)),
        ("10014", "New York", "NY", (40.73, -74.01)),
    ],
)
def test_us_zip_is_looked_up_in_the_united_states(
    gazetteer: Gazetteer, code: str, city: str, region: str, point: tuple[float, float]
) -> None:
    place = gazetteer.postcode(code, "US")
    assert (place.city, place.region) == (city, region)
    assert km_between(place, point) < 5


# -- other countries -------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["M5V 2T6", "m5v2t6", "M5V", " m5v 2t6 ", "M5V2T6"])
def test_canadian_postal_code_resolves_to_its_forward_sortation_area(
    gazetteer: Gazetteer, code: str
) -> None:
    place = gazetteer.postcode(code, "CA")
    assert place.postcode == "M5V"
    assert place.lat == pytest.approx(43.65, abs=0.02)
    assert place.lon == pytest.approx(-79.37, abs=0.02)
    assert "Toronto" in place.label
    assert (place.precision, place.country, place.region) == ("postcode", "CA", "ON")


@pytest.mark.parametrize(
    ("code", "country", "point", "within_km"),
    [
        ("2000", "AU", SYDNEY_CBD, 3),
        ("6011", "NZ", WELLINGTON, 3),
        ("SW1A 1AA", "GB", CENTRAL_LONDON, 15),
        ("sw1a1aa", "GB", CENTRAL_LONDON, 15),
        ("SW1A", "GB", CENTRAL_LONDON, 15),
    ],
)
def test_postcode_outside_north_america_resolves_near_its_centre(
    gazetteer: Gazetteer, code: str, country: str, point: tuple[float, float], within_km: float
) -> None:
    place = gazetteer.postcode(code, country)
    assert km_between(place, point) < within_km
    assert (place.precision, place.source, place.country) == ("postcode", "gazetteer", country)


@pytest.mark.parametrize("code", ["SW1A 1AA", "EC1A 1BB", "W1A 0AX"])
def test_british_postcode_falls_back_to_its_london_area(gazetteer: Gazetteer, code: str) -> None:
    place = gazetteer.postcode(code, "GB")
    assert "London" in place.label
    assert km_between(place, CENTRAL_LONDON) < 15


@pytest.mark.parametrize(
    ("code", "country", "point"),
    [
        ("2000", "AU", SYDNEY_CBD),
        ("2000", "BE", (51.22, 4.40)),  # Antwerp
        ("6011", "NZ", WELLINGTON),
        ("6011", "AU", (-32.00, 115.76)),  # Cottesloe, Perth
        ("10014", "US", (40.73, -74.01)),  # New York
        ("10014", "DZ", (36.49, 3.49)),  # Maala, Algeria
    ],
)
def test_same_postcode_is_answered_in_the_requested_country_only(
    gazetteer: Gazetteer, code: str, country: str, point: tuple[float, float]
) -> None:
    place = gazetteer.postcode(code, country)
    assert place.country == country
    assert km_between(place, point) < 10


@pytest.mark.parametrize(("code", "country"), [("53130", "BR"), ("10014", "AU"), ("2000", "NZ")])
def test_postcode_of_another_country_is_unknown_not_borrowed(
    gazetteer: Gazetteer, code: str, country: str
) -> None:
    with pytest.raises(UnknownPostcode):
        gazetteer.postcode(code, country)


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "country"),
    [("00000", "US"), ("99999", "US"), ("X0X", "CA"), ("ZZZZ", "AU"), ("ZZ1 1ZZ", "GB")],
)
def test_unknown_postcode_raises_unknown_postcode(
    gazetteer: Gazetteer, code: str, country: str
) -> None:
    with pytest.raises(UnknownPostcode) as raised:
        gazetteer.postcode(code, country)
    assert raised.value.code == "unknown_postcode"
    assert raised.value.status == 400
    assert code.strip() in raised.value.message


@pytest.mark.parametrize(
    ("code", "country"),
    [
        ("ABCDE", "US"),
        ("1234", "US"),
        ("123456", "US"),
        ("78701-12", "US"),
        ("M5V", "US"),
        ("", "US"),
        ("   ", "AU"),
        ("Z5V 2T6", "CA"),  # Z never starts a Canadian postal code
        ("M5", "CA"),
        ("M5V 2T", "CA"),
        ("78701", "CA"),
    ],
)
def test_malformed_postcode_raises_invalid_postcode(
    gazetteer: Gazetteer, code: str, country: str
) -> None:
    with pytest.raises(InvalidPostcode) as raised:
        gazetteer.postcode(code, country)
    assert raised.value.code == "invalid_postcode"
    assert raised.value.message


@pytest.mark.parametrize("country", ["XX", "USA", "", "ZZ"])
def test_unknown_country_raises_unsupported_country(gazetteer: Gazetteer, country: str) -> None:
    with pytest.raises(UnsupportedCountry) as raised:
        gazetteer.postcode("78701", country)
    assert raised.value.code == "unsupported_country"


@pytest.mark.parametrize("country", ["DE", "NL"])
def test_country_without_offline_centroids_is_unsupported_not_guessed(
    gazetteer: Gazetteer, country: str
) -> None:
    with pytest.raises(UnsupportedCountry, match="no offline postcode data"):
        gazetteer.postcode("10115", country)


def test_gazetteer_does_not_locate_street_addresses(gazetteer: Gazetteer) -> None:
    assert gazetteer.locates_addresses is False
    with pytest.raises(GeocodingError, match="not street addresses"):
        gazetteer.address("1100 Congress Ave, Austin, TX", "US")


# -- cities ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "country", "label", "point"),
    [
        ("Austin, TX", "US", "Austin, TX", (30.27, -97.74)),
        ("austin", "US", "Austin, TX", (30.27, -97.74)),
        ("  Austin ,  tx ", "US", "Austin, TX", (30.27, -97.74)),
        ("new york, ny", "US", "New York, NY", (40.71, -74.01)),
        ("Toronto", "CA", "Toronto, ON", DOWNTOWN_TORONTO),
        ("Toronto, ON", "CA", "Toronto, ON", DOWNTOWN_TORONTO),
        ("Sydney", "AU", "Sydney, NSW", SYDNEY_CBD),
        ("Wellington", "NZ", "Wellington, WGN", WELLINGTON),
    ],
)
def test_city_resolves_with_city_precision(
    gazetteer: Gazetteer, name: str, country: str, label: str, point: tuple[float, float]
) -> None:
    place = gazetteer.city(name, country)
    assert place.precision == "city"
    assert (place.source, place.country, place.postcode) == ("gazetteer", country, "")
    assert place.label == label
    assert km_between(place, point) < 25


@pytest.mark.parametrize(
    ("name", "country"),
    [("Nowhereville", "US"), ("Austin, ZZ", "US"), ("Austin", "CA"), ("Toronto, QC", "CA"),
     ("", "US"), (", TX", "US")],
)
def test_unknown_city_raises_unknown_city(gazetteer: Gazetteer, name: str, country: str) -> None:
    with pytest.raises(UnknownCity) as raised:
        gazetteer.city(name, country)
    assert raised.value.code == "unknown_city"


def test_city_in_unknown_country_raises_unsupported_country(gazetteer: Gazetteer) -> None:
    with pytest.raises(UnsupportedCountry):
        gazetteer.city("Austin", "XX")


@pytest.mark.parametrize("name", ["Austin, Texas", "austin, texas", "Austin, TEXAS"])
def test_us_city_accepts_a_full_state_name(gazetteer: Gazetteer, name: str) -> None:
    place = gazetteer.city(name, "US")
    assert place.label == "Austin, TX"
    assert place == gazetteer.city("Austin, TX", "US")


# -- timezones -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "country", "timezone"),
    [
        ("78701", "US", "America/Chicago"),
        ("10014", "US", "America/New_York"),
        ("79901", "US", "America/Denver"),  # El Paso keeps Mountain time
        ("85001", "US", "America/Phoenix"),
        ("96813", "US", "Pacific/Honolulu"),
        ("M5V", "CA", "America/Toronto"),
        ("2000", "AU", "Australia/Sydney"),
        ("6011", "NZ", "Pacific/Auckland"),
        ("SW1A 1AA", "GB", "Europe/London"),
    ],
)
def test_postcode_carries_its_timezone(
    gazetteer: Gazetteer, code: str, country: str, timezone: str
) -> None:
    assert gazetteer.postcode(code, country).timezone == timezone


@pytest.mark.parametrize(
    ("name", "country", "timezone"),
    [("Austin, TX", "US", "America/Chicago"), ("Toronto", "CA", "America/Toronto"),
     ("Sydney", "AU", "Australia/Sydney")],
)
def test_city_carries_its_timezone(
    gazetteer: Gazetteer, name: str, country: str, timezone: str
) -> None:
    assert gazetteer.city(name, country).timezone == timezone


# -- the chain -------------------------------------------------------------------------------


def place_from(source: str) -> Place:
    return Place(lat=1.0, lon=2.0, label=source, precision="postcode", source=source,
                 country="US")


class FakeGeocoder:
    """Answer every question with one place, or fail with one error; remember each call."""

    def __init__(self, name: str, answer: Place | Exception,
                 locates_addresses: bool = True) -> None:
        self.name = name
        self.answer = answer
        self.locates_addresses = locates_addresses
        self.calls: list[tuple[str, str, str]] = []

    def _reply(self, method: str, text: str, country: str) -> Place:
        self.calls.append((method, text, country))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def postcode(self, code: str, country: str) -> Place:
        return self._reply("postcode", code, country)

    def city(self, name: str, country: str) -> Place:
        return self._reply("city", name, country)

    def address(self, query: str, country: str) -> Place:
        return self._reply("address", query, country)


def ask(chain: GeocoderChain, method: str) -> Place:
    if method == "postcode":
        return chain.postcode("78701", "US")
    if method == "city":
        return chain.city("Austin", "US")
    return chain.address("1100 Congress Ave", "US")


METHODS = ["postcode", "city", "address"]


@pytest.mark.parametrize("method", METHODS)
def test_chain_first_answer_wins_and_later_geocoders_are_not_asked(method: str) -> None:
    first = FakeGeocoder("first", place_from("first"))
    second = FakeGeocoder("second", place_from("second"))
    assert ask(GeocoderChain([first, second]), method).source == "first"
    assert [call[0] for call in first.calls] == [method]
    assert second.calls == []


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "failure",
    [UnknownPostcode("no"), UnknownCity("no"), InvalidPostcode("no"), UnsupportedCountry("no"),
     GeocodingError("no")],
    ids=lambda e: type(e).__name__,
)
def test_chain_passes_a_failure_to_the_next_geocoder(method: str, failure: Exception) -> None:
    first = FakeGeocoder("first", failure)
    second = FakeGeocoder("second", place_from("second"))
    assert ask(GeocoderChain([first, second]), method).source == "second"
    assert len(first.calls) == len(second.calls) == 1
    assert first.calls == second.calls  # the same question, unchanged


@pytest.mark.parametrize("method", METHODS)
def test_chain_raises_the_last_error_when_every_geocoder_fails(method: str) -> None:
    first_error, last_error = UnknownPostcode("offline: no"), GeocodingError("online: no")
    first = FakeGeocoder("first", first_error)
    last = FakeGeocoder("last", last_error)
    with pytest.raises(GeocodingError) as raised:
        ask(GeocoderChain([first, last]), method)
    assert raised.value is last_error
    assert len(first.calls) == len(last.calls) == 1


def test_chain_does_not_swallow_an_unexpected_error() -> None:
    broken = FakeGeocoder("broken", RuntimeError("bug"))
    spare = FakeGeocoder("spare", place_from("spare"))
    with pytest.raises(RuntimeError, match="bug"):
        GeocoderChain([broken, spare]).postcode("78701", "US")
    assert spare.calls == []


def test_chain_skips_geocoders_that_do_not_locate_addresses() -> None:
    offline = FakeGeocoder("offline", place_from("offline"), locates_addresses=False)
    online = FakeGeocoder("online", place_from("online"))
    chain = GeocoderChain([offline, online])
    assert chain.locates_addresses
    assert chain.address("1100 Congress Ave", "US").source == "online"
    assert offline.calls == []
    assert chain.postcode("78701", "US").source == "offline"  # postcodes still ask it


def test_chain_without_an_address_geocoder_says_so() -> None:
    offline = FakeGeocoder("offline", place_from("offline"), locates_addresses=False)
    chain = GeocoderChain([offline])
    assert not chain.locates_addresses
    with pytest.raises(GeocodingError, match="offline geocoder does not locate street addresses"):
        chain.address("1100 Congress Ave", "US")
    assert offline.calls == []


def test_chain_with_gazetteer_first_answers_offline(gazetteer: Gazetteer) -> None:
    online = FakeGeocoder("online", place_from("online"))
    geocoders: list[Geocoder] = [gazetteer, online]
    chain = GeocoderChain(geocoders)
    assert chain.postcode("78701", "US").source == "gazetteer"
    assert chain.postcode("00000", "US").source == "online"
    assert [call[1] for call in online.calls] == ["00000"]


@pytest.mark.parametrize(("typed", "country", "label"), [
    ("M5V 2T6", "CA", "M5V 2T6 in Canada"),
    ("SW1A 1AA", "GB", "SW1A 1AA in United Kingdom"),
    ("2000", "AU", "2000 in Australia"),
])
def test_another_countrys_postcode_is_recognised_and_offered(
        client: FlaskClient, typed: str, country: str, label: str) -> None:
    response = client.get("/api/v1/search", query_string={"postcode": typed})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_postcode"
    assert error["message"].startswith(f"'{typed}' is not a US ZIP code")  # as typed
    assert [(s["country"], s["postcode"], s["label"]) for s in error["suggestions"]] == [
        (country, typed, label)]
    again = client.get("/api/v1/search", query_string={"postcode": typed, "country": country})
    assert again.status_code == 200


@pytest.mark.parametrize(("field", "typed"), [("city", "Austn, TX"), ("postcode", "Austn, TX"),
                                              ("city", "austn")])
def test_a_misspelt_city_gets_a_suggestion(client: FlaskClient, field: str,
                                           typed: str) -> None:
    response = client.get("/api/v1/search", query_string={field: typed})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert typed in error["message"]
    assert error["suggestions"][0] == {"city": "Austin, TX", "country": "US",
                                       "label": "Austin, TX"}


def test_an_unknown_zip_of_the_right_shape_offers_nothing(client: FlaskClient) -> None:
    error = client.get("/api/v1/search?postcode=00000").get_json()["error"]
    assert error["code"] == "unknown_postcode" and "suggestions" not in error
