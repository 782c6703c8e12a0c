"""Deterministic synthetic listings at real postcode centroids, for demos and benchmarks."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from functools import cache
from typing import IO

from countrystatecity_postal_codes.loaders import DataLoader

from .geocode.gazetteer import us_zip_rows
from .validation import FIELDS

# Share of listings per country in a generated directory.
COUNTRY_WEIGHTS = {"US": 0.78, "CA": 0.08, "GB": 0.05, "AU": 0.06, "NZ": 0.03}
REFERENCE_DATE = date(2026, 11, 1)  # fixed, so the same seed always gives the same file
# Changes whenever a seed makes different rows: files generated before are named by it.
VERSION = 2

DRY_NEEDLING = ["Dry needling", "Trigger point dry needling", "Functional dry needling",
                "Electrical dry needling", "Intramuscular stimulation (IMS)",
                "Dry needling for athletes"]
SERVICES = ["Manual therapy", "Sports rehabilitation", "Post-surgical rehabilitation",
            "Cupping", "Instrument-assisted soft tissue mobilization", "Vestibular therapy",
            "Pelvic floor therapy", "Kinesio taping", "Orthopedic physical therapy",
            "Running gait analysis", "Aquatic therapy", "Spinal manipulation",
            "Strength and conditioning", "Concussion management", "Massage therapy"]
CONDITIONS = ["Low back pain", "Neck pain", "Sciatica", "Headaches", "Sports injuries",
              "Plantar fasciitis", "Tennis elbow", "Shoulder pain", "Knee pain",
              "TMJ disorders", "Whiplash", "Fibromyalgia", "Hip pain", "Myofascial pain",
              "Frozen shoulder", "Shin splints", "Runner's knee", "Back pain",
              "Migraine", "Golfer's elbow", "Achilles tendinopathy", "Chronic pain"]
INSURANCE = {
    "US": ["Aetna", "Blue Cross Blue Shield", "Cigna", "UnitedHealthcare", "Medicare",
           "Humana", "Kaiser Permanente", "Tricare", "Medicaid"],
    "CA": ["Sun Life", "Manulife", "Canada Life", "Green Shield", "Blue Cross"],
    "GB": ["Bupa", "AXA Health", "Vitality", "Aviva", "WPA"],
    "AU": ["Medibank", "Bupa", "HCF", "nib", "Australian Unity"],
    "NZ": ["ACC", "Southern Cross", "nib", "AIA"],
}
EXTRA_LANGUAGES = {
    "US": ["Spanish", "Spanish", "Spanish", "Mandarin", "Vietnamese", "Tagalog", "Korean",
           "Russian", "Arabic"],
    "CA": ["French", "French", "French", "Mandarin", "Punjabi", "Cantonese"],
    "GB": ["Polish", "Urdu", "Punjabi", "Welsh"],
    "AU": ["Mandarin", "Arabic", "Vietnamese", "Greek"],
    "NZ": ["Māori", "Samoan", "Mandarin"],
}
SURNAMES = ["Garcia", "Nguyen", "Patel", "Smith", "Johnson", "Kim", "Martinez", "Brown",
            "Lee", "Wilson", "Anderson", "Thompson", "Walker", "Rivera", "Chen", "Murphy",
            "O'Brien", "Campbell", "Singh", "Okafor", "Novak", "Rossi", "Cohen", "Hughes"]
NAME_PATTERNS = ["{city} Physical Therapy", "{surname} Sports & Spine", "{word} Motion PT",
                 "{surname} Physical Therapy", "{word} Performance Rehab",
                 "{city} Dry Needling Clinic",
                 "{word} Movement Physio", "{surname} & {surname2} Physiotherapy",
                 "{city} Spine & Sport", "{word} Health Physical Therapy"]
WORDS = ["Summit", "Peak", "Core", "Kinetic", "Align", "Evolve", "Restore", "Balance",
         "Momentum", "True North", "Bluebird", "Cedar", "Harbor", "Riverside", "Pinnacle"]
STREETS = ["Main", "Oak", "Maple", "Cedar", "Park", "Lake", "Hill", "Church", "Elm", "King",
           "Queen", "Station", "Market", "Mill", "Bridge", "High"]
SUFFIXES = {"US": ["St", "Ave", "Blvd", "Rd", "Dr"], "CA": ["St", "Ave", "Rd"],
            "GB": ["Street", "Road", "Lane"], "AU": ["Street", "Road", "Parade"],
            "NZ": ["Street", "Road", "Terrace"]}
HOURS = ["Mon-Fri 08:00-18:00", "Mon-Fri 07:00-19:00; Sat 08:00-12:00",
         "Mon-Thu 07:30-18:30; Fri 07:30-15:00", "Mon,Wed,Fri 09:00-17:00; Tue,Thu 11:00-19:00",
         "Mon-Sat 08:00-20:00", "Mon-Fri 06:30-19:00; Sat 08:00-14:00; Sun 09:00-13:00"]
# A description is one sentence, as clinics write them: who they are, what they treat and
# how, in words that vary from clinic to clinic.
DESCRIPTIONS = [
    "Our licensed physical therapists use {dn} alongside {approach} to relieve {c1}, {c2} "
    "and {c3} for {audience} in {city}.",
    "A {kind} practice in {city} since {year}, helping {audience} recover from {c1} and "
    "{c2} with {dn}, {approach} and a plan written for each patient.",
    "We treat {c1}, {c2} and {c3} with a hands-on approach that includes {dn}, "
    "{approach} and advice you can use at home.",
    "{Dn} is offered by certified clinicians after a full assessment, together with "
    "{approach}, for {audience} living with {c1} or {c2}.",
    "From {c1} to {c3}, our {kind} team combines {dn} with {approach} so that {audience} "
    "get back to work, sport and daily life sooner.",
    "Since {year} this {kind} clinic has offered {dn}, {approach} and same-week "
    "appointments to {audience} with {c1}, {c2} or {c3}.",
    "Evidence-based care for {c1} and {c2}: {dn} and {approach} from physiotherapists "
    "who spend the whole session with you.",
    "Serving {audience} across {city} and nearby towns, we pair {dn} with {approach} to "
    "ease {c1}, {c2} and lingering {c3}.",
]
APPROACHES = ["exercise therapy", "manual therapy", "joint mobilisation",
              "graded strengthening", "soft tissue work", "movement retraining",
              "education about pain", "postural training", "balance exercises",
              "mobility programmes", "return-to-sport testing", "hydrotherapy"]
AUDIENCES = ["athletes", "runners", "office workers", "older adults", "new parents",
             "weekend warriors", "dancers", "manual workers", "students", "golfers",
             "cyclists", "families"]


# The listing's techniques: the dry-needling service it names, sometimes with others.
TECHNIQUE_OF_SERVICE = {"Trigger point dry needling": "trigger_point",
                        "Functional dry needling": "functional",
                        "Electrical dry needling": "electrical",
                        "Intramuscular stimulation (IMS)": "ims"}
ACCESS_SHARES = {"wheelchair": 0.75, "accessible_parking": 0.6, "elevator": 0.35,
                 "accessible_restroom": 0.55, "hearing_loop": 0.08, "step_free_treatment": 0.3}
PRICES = {"US": (75, 175), "CA": (85, 150), "GB": (40, 90), "AU": (80, 140), "NZ": (70, 120)}
HOLIDAYS = ["2026-12-25 closed; 2026-12-26 closed", "2026-12-24 08:00-12:00; 2026-12-25 closed",
            "2027-01-01 closed", "2026-11-26 closed; 2026-12-25 closed"]
# Fictional issuers: no real course provider is named.
ISSUERS = [("Northridge Needling Education", "Dry Needling Level 1", 27),
           ("Northridge Needling Education", "Dry Needling Level 2", 54),
           ("Kestrel Manual Therapy Institute", "Certified Dry Needling Practitioner", 60),
           ("Summit Myofascial Academy", "Trigger Point Dry Needling", 32),
           ("Harbourside IMS Programme", "Intramuscular Stimulation Certificate", 80)]
FIRST_NAMES = ["Alex", "Maria", "Sam", "Priya", "Jordan", "Wei", "Fatima", "Liam", "Ana",
               "Kofi", "Sofia", "Noah", "Aisha", "Mateo", "Grace", "Hiro", "Elena", "Omar",
               "Chloe", "Ravi", "Nina", "Tomas", "Leah", "Diego"]
CREDENTIALS = {"US": (["PT", "DPT"], ["OCS", "SCS", "CMTPT", "FAAOMPT", "ATC", "CSCS"]),
               "CA": (["PT"], ["FCAMPT", "MScPT"]), "GB": (["MCSP"], ["HCPC", "MSc"]),
               "AU": (["APAM"], ["FACP", "MPhty"]), "NZ": (["MNZSP"], ["MHSc"])}
PRACTITIONER_FIELDS = ("external_id", "location_external_ids", "name", "credentials", "npi",
                       "licence_region", "licence_number", "languages", "gender",
                       "certifications")


@cache
def _postcodes(country: str) -> list[tuple[str, float, float, str, str]]:
    """Return (postcode, lat, lon, city, region) of every usable postcode in a country."""
    if country == "US":
        rows = [(z["zip_code"], float(z["lat"]), float(z["long"]), z["city"], z["state"])
                for z in us_zip_rows() if z["zip_code_type"] == "STANDARD" and z["lat"]]
    else:
        rows = [(str(p["code"]), float(p["latitude"]), float(p["longitude"]),
                 str(p.get("localityName") or "").split("(")[0].split(",")[0].strip(),
                 str(p.get("stateCode") or ""))
                for p in DataLoader.load_postcodes(country) if p.get("latitude") is not None]
    return sorted(rows)


# Phone numbers come only from ranges set aside for fiction, so a demo never rings anyone.
# - US and Canada: NXX-555-0100 to NXX-555-0199, reserved for fictitious use in every area
#   code by the North American Numbering Plan Administrator (NANPA); the area code is a real
#   one of the listing's ZIP (zipcodes data) or province.
# - United Kingdom: Ofcom's "telephone numbers for drama purposes", 1,000 numbers in each of
#   these city codes; the listing gets the city nearest to it. Ofcom's Nottingham range,
#   0115 496 0000-0999, is left out because libphonenumber's metadata rejects it.
# - Australia: the ACMA's fictitious numbers for radio, books, film and TV, (0X) 5550 xxxx and
#   (0X) 7010 xxxx, with X the area code of the listing's state.
# - New Zealand: no range for fiction is published (the Number Administration Deed, which
#   runs the numbering plan, sets none aside) and no block is known to stay unallocated, so
#   New Zealand listings have no phone number.
UK_DRAMA_RANGES = [  # (national number before the last three digits, latitude, longitude)
    ("20 7946 0", 51.507, -0.128),  # London
    ("113 496 0", 53.800, -1.549),  # Leeds
    ("114 496 0", 53.381, -1.470),  # Sheffield
    ("116 496 0", 52.637, -1.134),  # Leicester
    ("117 496 0", 51.454, -2.588),  # Bristol
    ("118 496 0", 51.454, -0.978),  # Reading
    ("121 496 0", 52.486, -1.890),  # Birmingham
    ("131 496 0", 55.953, -3.189),  # Edinburgh
    ("141 496 0", 55.864, -4.252),  # Glasgow
    ("151 496 0", 53.408, -2.992),  # Liverpool
    ("161 496 0", 53.481, -2.243),  # Manchester
    ("191 498 0", 54.978, -1.618),  # Tyneside, Durham and Sunderland
    ("28 9018 0", 54.597, -5.930),  # Northern Ireland
    ("29 2018 0", 51.481, -3.179),  # Cardiff
]
AU_AREA_CODES = {"NSW": "2", "ACT": "2", "VIC": "3", "TAS": "3", "QLD": "7", "SA": "8",
                 "WA": "8", "NT": "8"}
AU_FICTION_BLOCKS = ["5550", "7010"]
CA_AREA_CODES = {
    "ON": ["416", "647", "905", "613", "519", "705", "807"], "QC": ["514", "450", "418", "819"],
    "BC": ["604", "778", "250"], "AB": ["403", "780", "587"], "MB": ["204"], "SK": ["306"],
    "NS": ["902"], "PE": ["902"], "NB": ["506"], "NL": ["709"], "YT": ["867"],
    "NT": ["867"], "NU": ["867"],
}


@cache
def _us_area_codes() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Return the area codes of each ZIP, and of each state (for ZIPs without any)."""
    by_zip: dict[str, list[str]] = {}
    by_state: dict[str, list[str]] = {}
    for z in us_zip_rows():
        codes = list(z["area_codes"] or [])
        by_zip[z["zip_code"]] = codes
        by_state.setdefault(z["state"], [])
        by_state[z["state"]].extend(c for c in codes if c not in by_state[z["state"]])
    return by_zip, by_state


def _area_codes(country: str, postcode: str, region: str) -> list[str]:
    if country == "CA":
        return CA_AREA_CODES.get(region) or CA_AREA_CODES["ON"]
    by_zip, by_state = _us_area_codes()
    return by_zip.get(postcode) or by_state.get(region) or ["202"]


def _phone(rng: random.Random, country: str, postcode: str, region: str, lat: float,
           lon: float) -> str:
    """Return a phone number from a range reserved for fiction, in national format."""
    if country in ("US", "CA"):
        area = rng.choice(_area_codes(country, postcode, region))
        return f"({area}) 555-{rng.randrange(100, 200):04d}"
    if country == "GB":
        prefix = min(UK_DRAMA_RANGES,
                     key=lambda r: (r[1] - lat) ** 2 + ((r[2] - lon) * 0.6) ** 2)[0]
        return f"0{prefix}{rng.randrange(1000):03d}"
    if country == "AU":
        area = AU_AREA_CODES.get(region, "2")
        return f"(0{area}) {rng.choice(AU_FICTION_BLOCKS)} {rng.randrange(10_000):04d}"
    return ""


def _npi(rng: random.Random) -> str:
    body = "1" + "".join(str(rng.randrange(10)) for _ in range(8))
    for check in range(10):
        digits = [int(d) for d in "80840" + body + str(check)]
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2)
                    for i, d in enumerate(reversed(digits)))
        if total % 10 == 0:
            return body + str(check)
    raise AssertionError("a Luhn check digit always exists")


def listings(count: int, seed: int = 1, verified_by: date = REFERENCE_DATE,
             in_country: str | None = None) -> Iterator[dict[str, str]]:
    """Yield ``count`` CSV rows; the same seed always yields the same rows. Each was last
    verified 0 to 120 days before ``verified_by``, as in a directory that re-verifies every
    90 days: most current, some stale. With ``in_country``, every listing is in that country
    (a national directory); else they are spread over ``COUNTRY_WEIGHTS``."""
    rng = random.Random(seed)
    countries = [in_country] if in_country else list(COUNTRY_WEIGHTS)
    weights = [1.0] if in_country else list(COUNTRY_WEIGHTS.values())
    for i in range(count):
        country = rng.choices(countries, weights)[0]
        postcode, lat, lon, city, region = rng.choice(_postcodes(country))
        city = city.title() if city.isupper() else city
        name = rng.choice(NAME_PATTERNS).format(
            city=city, surname=rng.choice(SURNAMES), surname2=rng.choice(SURNAMES),
            word=rng.choice(WORDS))
        if country != "US":
            name = name.replace("Physical Therapy", "Physiotherapy").replace(" PT", " Physio")
        dry_needling = rng.choice(DRY_NEEDLING)
        services = [dry_needling, *rng.sample(SERVICES, rng.randint(3, 4))]
        conditions = rng.sample(CONDITIONS, 4)
        languages = ["English"]
        if rng.random() < 0.35:
            languages.append(rng.choice(EXTRA_LANGUAGES[country]))
        exact = rng.random() < 0.8  # the rest are placed at their postcode centroid
        row = {
            "external_id": f"gen-{seed}-{i:07d}",
            "name": name,
            "address_1": " ".join([str(rng.randint(1, 9999)), rng.choice(STREETS),
                                   rng.choice(SUFFIXES[country])]),
            "address_2": rng.choice(["", "", "", f"Suite {rng.randint(100, 500)}"]),
            "city": city,
            "region": region,
            "postcode": postcode,
            "country": country,
            "latitude": f"{lat + rng.uniform(-0.01, 0.01):.6f}" if exact else "",
            "longitude": f"{lon + rng.uniform(-0.01, 0.01):.6f}" if exact else "",
            "phone": _phone(rng, country, postcode, region, lat, lon),
            "website": f"https://{''.join(ch for ch in name.lower() if ch.isalnum())[:30]}.example",
            "email": "",
            "services": "; ".join(services),
            "conditions": "; ".join(conditions),
            "insurance": "; ".join(
                [*rng.sample(INSURANCE[country], rng.randint(1, 4)), "Self-pay"]),
            "languages": "; ".join(dict.fromkeys(languages)),
            "hours": rng.choice(HOURS),
            "telehealth": "true" if rng.random() < 0.3 else "false",
            "accepting_new_patients": "true" if rng.random() < 0.85 else "false",
            "npi": _npi(rng) if country == "US" else "",
            "description": rng.choice(DESCRIPTIONS).format(
                dn=dry_needling.lower(), Dn=dry_needling.capitalize(),
                c1=conditions[0].lower(), c2=conditions[1].lower(),
                c3=conditions[2].lower(), city=city or "town", year=rng.randint(1985, 2024),
                approach=rng.choice(APPROACHES), audience=rng.choice(AUDIENCES),
                kind=rng.choice(["sports", "family", "orthopedic", "community",
                                 "independent", "hospital-based"])),
            # One draw, as before, so the fields after it stay what they were for each seed.
            "last_verified": (verified_by - timedelta(days=rng.randint(0, 400) * 3 // 10)
                              ).isoformat(),
        }
        # The listing model's fields come from a generator of their own, so the fields
        # above stay what they were for each seed.
        yield {**row, **_care(random.Random(f"{seed}-{i}-care"), country, dry_needling)}


def _care(rng: random.Random, country: str, dry_needling: str) -> dict[str, str]:
    """Techniques, access, price, referral, home visits, ages and holiday hours."""
    techniques = [TECHNIQUE_OF_SERVICE.get(dry_needling) or rng.choice(
        ["trigger_point", "deep", "superficial"])]
    techniques += rng.sample(["trigger_point", "deep", "superficial", "electrical",
                              "functional"], rng.choice([0, 0, 1, 2]))
    low, high = PRICES[country]
    start = rng.randrange(low, high, 5)
    price = rng.choice(["", str(start), f"{start}-{start + rng.choice([20, 30, 50])}"])
    ages = ["adults", "seniors"] if rng.random() < 0.8 else ["adults"]
    if rng.random() < 0.25:
        ages.insert(0, "children")
    return {
        "techniques": "; ".join(dict.fromkeys(techniques)),
        "accessibility": "; ".join(key for key, share in ACCESS_SHARES.items()
                                   if rng.random() < share),
        "self_pay_price": price,
        "direct_access": rng.choice(["true"] * 7 + ["false"] + [""] * 2),
        "home_visits": rng.choice(["true"] * 3 + ["false"] * 10 + [""] * 7),
        "age_groups": "; ".join(ages),
        "holiday_hours": rng.choice(HOLIDAYS) if rng.random() < 0.3 else "",
    }


def practitioners(count: int, seed: int = 1, in_country: str | None = None
                  ) -> Iterator[dict[str, str]]:
    """Yield practitioners CSV rows for the listings ``listings(count, seed, ...)`` yields:
    one to three at each, some of whose certifications have expired."""
    for i, location in enumerate(listings(count, seed, in_country=in_country)):
        rng = random.Random(f"{seed}-{i}-people")
        country = location["country"]
        required, optional = CREDENTIALS[country]
        spoken = location["languages"].split("; ")
        for k in range(rng.choice([1, 1, 2, 2, 3])):
            certifications = []
            for issuer, title, hours in rng.sample(ISSUERS, rng.choice([0, 1, 1, 1, 2])):
                earned = REFERENCE_DATE - timedelta(days=rng.randint(100, 3000))
                # A third expire three years after they were earned: some already have.
                expires = (earned + timedelta(days=3 * 365)).isoformat() if (
                    rng.random() < 0.35) else ""
                certifications.append(f"{issuer}|{title}|{hours}|{earned.isoformat()}|{expires}")
            yield {
                "external_id": f"{location['external_id']}-p{k}",
                "location_external_ids": location["external_id"],
                "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}",
                "credentials": "; ".join([*required, *rng.sample(optional, rng.choice([0, 1]))]),
                "npi": _npi(rng) if country == "US" else "",
                "licence_region": location["region"] if country in ("US", "CA") else "",
                "licence_number": str(rng.randrange(10_000, 99_999)) if country in (
                    "US", "CA") else "",
                "languages": "; ".join(rng.sample(spoken, rng.randint(1, len(spoken)))),
                "gender": rng.choice(["female", "male", "female", "male", "non_binary", ""]),
                "certifications": "; ".join(certifications),
            }


def write_csv(handle: IO[str], count: int, seed: int = 1,
              verified_by: date = REFERENCE_DATE, in_country: str | None = None) -> int:
    """Write generated listings as an import CSV; return the row count."""
    return _write(handle, [*FIELDS, "last_verified"],
                  listings(count, seed, verified_by, in_country))


def write_practitioners_csv(handle: IO[str], count: int, seed: int = 1,
                            in_country: str | None = None) -> int:
    """Write the practitioners of ``write_csv``'s listings as a practitioners CSV."""
    return _write(handle, list(PRACTITIONER_FIELDS), practitioners(count, seed, in_country))


def _write(handle: IO[str], fields: list[str], rows: Iterable[dict[str, str]]) -> int:
    writer = csv.DictWriter(handle, fieldnames=fields)
    writer.writeheader()
    written = 0
    for row in rows:
        writer.writerow(row)
        written += 1
    return written
