"""`finder nppes`: import the NPI registry's dissemination file, verify the directory's NPIs
against it, and make unpublished listings of the registry's PT clinics.

The files are written here in the registry's real format: its ~330 column names, every value
quoted, deactivated rows holding little more than the NPI and the date.
"""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, expect

from finder.db import session_scope
from finder.models import IndexChange, Location, Practitioner, Source, Status
from finder.moderation.accounts import create_account
from finder.trust.models import NppesRecord
from tests import browser as browsing
from tests.browser import DESKTOP, PHONE, PageFactory, assert_accessible, page_factory, shot
from tests.conftest import AUSTIN, Runner, Server, load, near, row, serve_directory

# -- the registry's file, as CMS publishes it ------------------------------------------------

TAXONOMY_COLUMNS = [f"Healthcare Provider Taxonomy Code_{n}" for n in range(1, 16)]
HEADER = [
    "NPI", "Entity Type Code", "Replacement NPI", "Employer Identification Number (EIN)",
    "Provider Organization Name (Legal Business Name)", "Provider Last Name (Legal Name)",
    "Provider First Name", "Provider Middle Name", "Provider Name Prefix Text",
    "Provider Name Suffix Text", "Provider Credential Text",
    "Provider Other Organization Name", "Provider Other Organization Name Type Code",
    "Provider Other Last Name", "Provider Other First Name", "Provider Other Middle Name",
    "Provider Other Name Prefix Text", "Provider Other Name Suffix Text",
    "Provider Other Credential Text", "Provider Other Last Name Type Code",
    "Provider First Line Business Mailing Address",
    "Provider Second Line Business Mailing Address",
    "Provider Business Mailing Address City Name", "Provider Business Mailing Address State Name",
    "Provider Business Mailing Address Postal Code",
    "Provider Business Mailing Address Country Code (If outside U.S.)",
    "Provider Business Mailing Address Telephone Number",
    "Provider Business Mailing Address Fax Number",
    "Provider First Line Business Practice Location Address",
    "Provider Second Line Business Practice Location Address",
    "Provider Business Practice Location Address City Name",
    "Provider Business Practice Location Address State Name",
    "Provider Business Practice Location Address Postal Code",
    "Provider Business Practice Location Address Country Code (If outside U.S.)",
    "Provider Business Practice Location Address Telephone Number",
    "Provider Business Practice Location Address Fax Number",
    "Provider Enumeration Date", "Last Update Date", "NPI Deactivation Reason Code",
    "NPI Deactivation Date", "NPI Reactivation Date", "Provider Sex Code",
    "Authorized Official Last Name", "Authorized Official First Name",
    "Authorized Official Middle Name", "Authorized Official Title or Position",
    "Authorized Official Telephone Number",
    *[column for n in range(1, 16) for column in (
        f"Healthcare Provider Taxonomy Code_{n}", f"Provider License Number_{n}",
        f"Provider License Number State Code_{n}",
        f"Healthcare Provider Primary Taxonomy Switch_{n}")],
    *[column for n in range(1, 51) for column in (
        f"Other Provider Identifier_{n}", f"Other Provider Identifier Type Code_{n}",
        f"Other Provider Identifier State_{n}", f"Other Provider Identifier Issuer_{n}")],
    "Is Sole Proprietor", "Is Organization Subpart", "Parent Organization LBN",
    "Parent Organization TIN", "Authorized Official Name Prefix Text",
    "Authorized Official Name Suffix Text", "Authorized Official Credential Text",
    *[f"Healthcare Provider Taxonomy Group_{n}" for n in range(1, 16)],
    "Certification Date",
]
POSITION = {name: index for index, name in enumerate(HEADER)}
# Real ZIP centroids, written as the registry writes them: nine digits, no dash.
ZIPS = [("AUSTIN", "TX", "787011234"), ("NEW YORK", "NY", "100010000"),
        ("CHICAGO", "IL", "606010000"), ("SEATTLE", "WA", "981010000")]
PT, PT_SPORTS, PT_CLINIC = "225100000X", "2251S0007X", "261QP2000X"
CHIROPRACTOR, PHYSICIAN = "111N00000X", "207Q00000X"


def npi(serial: int) -> str:
    """A valid NPI: nine digits and the Luhn check digit over 80840 and them."""
    body = f"{100000000 + serial:09d}"
    total = 0
    for i, digit in enumerate(int(d) for d in reversed("80840" + body)):
        if i % 2 == 0:  # doubled: the check digit will sit to their right
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return body + str((10 - total % 10) % 10)


def registry_row(number: str, entity: str = "1", *, organisation: str = "", last: str = "",
                 first: str = "", taxonomies: tuple[str, ...] = (PT,), place: int = 0,
                 address: str = "100 CONGRESS AVE", phone: str = "5125550123",
                 deactivated: str = "", reactivated: str = "") -> list[str]:
    cells = [""] * len(HEADER)
    city, state, zip_code = ZIPS[place % len(ZIPS)]
    values = {
        "NPI": number, "Entity Type Code": entity,
        "Provider Organization Name (Legal Business Name)": organisation,
        "Provider Last Name (Legal Name)": last, "Provider First Name": first,
        "Provider Credential Text": "PT, DPT" if entity == "1" else "",
        "Provider First Line Business Practice Location Address": address,
        "Provider Second Line Business Practice Location Address": "SUITE 200",
        "Provider Business Practice Location Address City Name": city,
        "Provider Business Practice Location Address State Name": state,
        "Provider Business Practice Location Address Postal Code": zip_code,
        "Provider Business Practice Location Address Telephone Number": phone,
        "Provider First Line Business Mailing Address": "PO BOX 1",
        "Provider Enumeration Date": "05/23/2005", "Last Update Date": "07/08/2021",
        "NPI Deactivation Date": deactivated, "NPI Reactivation Date": reactivated,
        "Is Sole Proprietor": "N", "Certification Date": "07/08/2021",
    }
    for column, code in zip(TAXONOMY_COLUMNS, taxonomies, strict=False):
        values[column] = code
        values[column.replace("Taxonomy Code", "Primary Taxonomy Switch")] = (
            "Y" if code == taxonomies[0] else "N")
    if entity == "" and deactivated:  # the registry blanks everything else
        values = {"NPI": number, "NPI Deactivation Date": deactivated}
    for column, value in values.items():
        cells[POSITION[column]] = value
    return cells


# The NPIs the directory holds, and what the registry says of each.
VERIFIED_CLINIC, RENAMED_CLINIC, CHIROPRACTIC_CLINIC = npi(1), npi(2), npi(3)
CLOSED_CLINIC, UNKNOWN_CLINIC, THERAPIST = npi(4), npi(5), npi(6)
MISMATCH_DETAIL = "the registry names it 'NORTH HILLS PHYSICAL THERAPY LLC'"
MISMATCH_DETAIL_SAID = "The registry names it 'NORTH HILLS PHYSICAL THERAPY LLC'"


@dataclass
class RegistryFile:
    path: Path
    physical_therapy: set[str] = field(default_factory=set)  # NPIs that must be kept
    others: set[str] = field(default_factory=set)  # NPIs that must be dropped
    clinics: set[str] = field(default_factory=set)  # PT organisations, placeable
    unplaceable: set[str] = field(default_factory=set)
    bad_rows: int = 0


def write_registry(path: Path, filler: int, seed: int = 7) -> RegistryFile:
    """Write a registry file: the directory's NPIs, then ``filler`` providers of every kind,
    and a few malformed rows."""
    random.seed(seed)
    made = RegistryFile(path)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(HEADER)
        known = [
            registry_row(VERIFIED_CLINIC, "2", organisation="EASTSIDE PHYSICAL THERAPY, P.L.L.C.",
                         taxonomies=(PT_CLINIC,)),
            registry_row(RENAMED_CLINIC, "2", organisation="NORTH HILLS PHYSICAL THERAPY LLC",
                         taxonomies=(PT_CLINIC, PT)),
            registry_row(CHIROPRACTIC_CLINIC, "2", organisation="LAKESIDE PT LLC",
                         taxonomies=(CHIROPRACTOR,)),
            registry_row(CLOSED_CLINIC, "", deactivated="03/01/2024"),
            registry_row(THERAPIST, "1", last="SMITH", first="DANA", taxonomies=(PT_SPORTS,)),
        ]
        writer.writerows(known)
        made.physical_therapy |= {VERIFIED_CLINIC, RENAMED_CLINIC, THERAPIST}
        made.clinics |= {VERIFIED_CLINIC, RENAMED_CLINIC}
        for serial in range(100, 100 + filler):
            number, kind = npi(serial), serial % 10
            if kind < 5:
                cells = registry_row(number, "1", last=f"LAST{serial}", first="ALEX",
                                     taxonomies=(PT, PT_SPORTS), place=serial)
                made.physical_therapy.add(number)
            elif kind < 7:
                cells = registry_row(number, "2", organisation=f"MOTION {serial} PT INC",
                                     taxonomies=(PHYSICIAN, PT_CLINIC), place=serial)
                made.physical_therapy.add(number)
                made.clinics.add(number)
            elif kind == 7:  # deactivated, and never in the directory: not kept
                cells = registry_row(number, "", deactivated="01/15/2020")
                made.others.add(number)
            else:
                cells = registry_row(number, random.choice("12"), last="DOE", first="JO",
                                     organisation=f"CLINIC {serial}",
                                     taxonomies=(random.choice([CHIROPRACTOR, PHYSICIAN]),))
                made.others.add(number)
            writer.writerow(cells)
        # Malformed rows: a wrong check digit, a row cut short, a date that is no date.
        writer.writerow(registry_row("1234567890", "1", last="BAD", first="NPI"))
        writer.writerow(registry_row(npi(98), "2", organisation="SHORT PT")[:40])
        writer.writerow(registry_row(npi(97), "1", last="BAD", first="DATE",
                                     deactivated="2020-01-15"))
        made.bad_rows = 3
        # A clinic at a ZIP that does not exist: kept, but it cannot be placed on the map.
        lost = npi(96)
        cells = registry_row(lost, "2", organisation="LOST PT", taxonomies=(PT_CLINIC,))
        cells[POSITION["Provider Business Practice Location Address Postal Code"]] = "000000000"
        writer.writerow(cells)
        made.physical_therapy.add(lost)
        made.unplaceable.add(lost)
    return made


# -- the directory ---------------------------------------------------------------------------


def fill_directory(app: Flask) -> None:
    """Listings with NPIs the registry confirms, renames, lists as another kind of provider,
    has deactivated, or does not have; and a practitioner with her own NPI."""
    load(app, [
        row("east", "Eastside Physical Therapy", AUSTIN, npi=VERIFIED_CLINIC,
            services="Dry needling"),
        row("river", "Riverside Needling", near(AUSTIN, 1), npi=RENAMED_CLINIC,
            services="Dry needling"),
        row("lake", "Lakeside PT", near(AUSTIN, 2), npi=CHIROPRACTIC_CLINIC),
        row("old", "Old Town Therapy", near(AUSTIN, 3), npi=CLOSED_CLINIC),
        row("ghost", "Ghost Clinic", near(AUSTIN, 4), npi=UNKNOWN_CLINIC),
        row("plain", "Plain Clinic", near(AUSTIN, 5)),
    ])
    with session_scope(app) as session:
        east = session.scalars(sa.select(Location).where(Location.external_id == "east")).one()
        session.add(Practitioner(organization=east.organization, name="Dana Smith",
                                 credentials=["DPT"], npi=THERAPIST, locations=[east]))
        session.commit()


def by_external_id(app: Flask) -> dict[str, Location]:
    with session_scope(app) as session:
        return {location.external_id or "": location
                for location in session.scalars(sa.select(Location))}


def records(app: Flask) -> dict[str, NppesRecord]:
    with session_scope(app) as session:
        return {record.npi: record for record in session.scalars(sa.select(NppesRecord))}


def count(app: Flask, model: Any) -> int:
    with session_scope(app) as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


@pytest.fixture
def registry(tmp_path: Path) -> RegistryFile:
    return write_registry(tmp_path / "npidata_pfile.csv", filler=3000)


# -- importing -------------------------------------------------------------------------------


def test_only_physical_therapists_and_the_directory_s_npis_are_kept(
        app: Flask, runner: Runner, registry: RegistryFile) -> None:
    fill_directory(app)
    result = runner.invoke("nppes", "import", str(registry.path))
    assert result.exit_code == 0, result.output
    kept = records(app)
    # The directory's chiropractor and deactivated NPIs are kept, to say what is wrong.
    assert set(kept) == registry.physical_therapy | {CHIROPRACTIC_CLINIC, CLOSED_CLINIC}
    assert not set(kept) & registry.others
    rows = 5 + 3000 + registry.bad_rows + 1
    assert (f"read {rows} row(s): kept {len(kept)} (new {len(kept)}, changed 0, unchanged 0), "
            f"deactivated 1, rejected {registry.bad_rows}") in result.output
    assert "'1234567890' has a wrong check digit" in result.output
    assert "40 cells where the header has 330 columns" in result.output
    assert "NPI Deactivation Date: '2020-01-15' is not a MM/DD/YYYY date" in result.output
    clinic = kept[VERIFIED_CLINIC]
    assert (clinic.entity_type, clinic.name, clinic.postcode, clinic.region) == (
        2, "EASTSIDE PHYSICAL THERAPY, P.L.L.C.", "78701-1234", "TX")
    assert kept[THERAPIST].name == "SMITH, DANA"
    assert kept[THERAPIST].taxonomies == [PT_SPORTS]
    assert kept[CLOSED_CLINIC].deactivated_on == date(2024, 3, 1)


def test_importing_the_same_file_twice_changes_nothing(
        app: Flask, runner: Runner, registry: RegistryFile) -> None:
    fill_directory(app)
    runner.invoke("nppes", "import", str(registry.path), "--batch-size", "700")
    before = {npi: (r.name, r.taxonomies, r.imported_at) for npi, r in records(app).items()}
    changes = count(app, IndexChange)
    again = runner.invoke("nppes", "import", str(registry.path), "--batch-size", "700")
    assert f"kept {len(before)} (new 0, changed 0, unchanged {len(before)})" in again.output
    after = {npi: (r.name, r.taxonomies, r.imported_at) for npi, r in records(app).items()}
    assert after == before
    assert count(app, IndexChange) == changes  # no listing touched, nothing to reindex


def test_a_deactivation_in_a_later_file_is_learned(app: Flask, runner: Runner,
                                                   tmp_path: Path) -> None:
    fill_directory(app)
    first = tmp_path / "first.csv"
    with open(first, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL).writerows([HEADER, registry_row(
            npi(500), "1", last="KIM", first="SAM")])
    runner.invoke("nppes", "import", str(first))
    later = tmp_path / "later.csv"
    with open(later, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL).writerows([HEADER, registry_row(
            npi(500), "", deactivated="02/02/2025")])
    result = runner.invoke("nppes", "import", str(later))
    assert "kept 1 (new 0, changed 1, unchanged 0), deactivated 1" in result.output
    record = records(app)[npi(500)]
    assert record.name == "KIM, SAM"
    assert record.deactivated_on == date(2025, 2, 2)


@pytest.mark.parametrize(("content", "message"), [
    ('"NPI","Entity Type Code"\n"1234567893","1"\n',
     "npidata.csv is not the NPPES dissemination file: its header has no "
     "'Provider Organization Name (Legal Business Name)'"),
    ('"external_id","name"\n"a","Alpha"\n', "its header has no 'NPI', "),
    ("PK\x03\x04\x14\x00\x00\x00\x08\x00binary zip bytes", "npidata.csv is not "),
    ("", "npidata.csv is empty"),
])
def test_a_file_that_is_not_the_registry_s_stops_at_once(
        app: Flask, runner: Runner, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "npidata.csv"
    path.write_text(content, encoding="utf-8")
    result = runner.invoke("nppes", "import", str(path))
    assert result.exit_code == 1
    assert message in result.output
    assert "read " not in result.output and count(app, NppesRecord) == 0


# -- verifying -------------------------------------------------------------------------------


def test_the_directory_s_npis_are_verified_against_the_registry(
        app: Flask, runner: Runner, registry: RegistryFile) -> None:
    fill_directory(app)
    result = runner.invoke("nppes", "import", str(registry.path))
    assert ("NPIs of locations: verified 1, deactivated 1, mismatch 2, not_found 1"
            in result.output)
    assert "NPIs of practitioners: verified 1, deactivated 0" in result.output
    listed = by_external_id(app)
    status = {key: (location.npi_status, location.npi_detail) for key, location in listed.items()}
    assert status["east"] == ("verified", "")
    assert status["river"] == ("mismatch", MISMATCH_DETAIL_SAID + ".")
    assert status["lake"][0] == "mismatch"
    assert status["lake"][1] == (f"The registry lists it as {CHIROPRACTOR}, not a physical "
                                 "therapist or physical therapy clinic.")
    assert status["old"] == ("deactivated",
                             f"The registry deactivated NPI {CLOSED_CLINIC} on 2024-03-01.")
    assert status["ghost"][0] == "not_found"
    assert status["plain"] == ("", "")
    assert all(location.npi_checked_on is not None
               for key, location in listed.items() if key != "plain")
    with session_scope(app) as session:
        dana = session.scalars(sa.select(Practitioner)).one()
        assert (dana.npi_status, dana.npi_checked_on is not None) == ("verified", True)


def test_verify_lists_the_problems(app: Flask, runner: Runner, registry: RegistryFile) -> None:
    fill_directory(app)
    runner.invoke("nppes", "import", str(registry.path))
    result = runner.invoke("nppes", "verify", "--problems")
    assert result.exit_code == 0
    lines = [line for line in result.output.splitlines() if line.startswith("listing ")]
    assert [line.split("'")[1] for line in lines] == [
        "Old Town Therapy", "Lakeside PT", "Riverside Needling", "Ghost Clinic"]
    assert f"NPI {RENAMED_CLINIC}: mismatch — {MISMATCH_DETAIL_SAID}." in result.output


@pytest.mark.parametrize(("registry_name", "listing_names", "agrees"), [
    ("EASTSIDE PHYSICAL THERAPY, P.L.L.C.", ("Eastside Physical Therapy",), True),
    ("EASTSIDE PHYSICAL THERAPY LLC", ("Eastside PT",), True),
    ("EASTSIDE PHYSICAL THERAPY & REHAB INC", ("Eastside Physical Therapy and Rehabilitation",),
     True),
    ("EASTSIDE PHYSICAL THERAPY LLC", ("Eastside Physical Therapy Downtown",), True),
    ("EASTSIDE PHYSICAL THERAPY LLC", ("Eastsde Physical Therapy",), True),
    ("EASTSIDE PHYSICAL THERAPY LLC", ("Downtown Clinic", "Eastside Physical Therapy"), True),
    ("NORTH HILLS PHYSICAL THERAPY LLC", ("Riverside Needling",), False),
    ("NORTH HILLS PHYSICAL THERAPY LLC", ("South Hills Physical Therapy",), False),
    ("PHYSICAL THERAPY LLC", ("Eastside Physical Therapy",), False),
])
def test_organisation_names_are_compared_leniently(registry_name: str,
                                                   listing_names: tuple[str, ...],
                                                   agrees: bool) -> None:
    from finder.trust.names import same_organisation

    assert same_organisation(registry_name, *listing_names) is agrees


@pytest.mark.parametrize(("registry_name", "name", "agrees"), [
    ("SMITH, DANA", "Dana Smith", True),
    ("SMITH, DANA", "Dana Smith, PT, DPT", True),
    ("SMITH, DANA", "D. Smith", True),
    ("O'NEIL, SEAN", "Sean O'Neil", True),
    ("SMITH, DANA", "Dana Jones", False),
    ("SMITH, DANA", "Robin Smith", False),
])
def test_people_s_names_are_compared_leniently(registry_name: str, name: str,
                                               agrees: bool) -> None:
    from finder.trust.names import same_person

    assert same_person(registry_name, name) is agrees


# -- listings made from the registry ---------------------------------------------------------


def test_registry_clinics_become_unpublished_listings_once(
        app: Flask, client: FlaskClient, runner: Runner, registry: RegistryFile) -> None:
    fill_directory(app)
    result = runner.invoke("nppes", "import", str(registry.path), "--create-listings")
    assert result.exit_code == 0, result.output
    # Every placeable PT clinic the directory lacks; those with a listing already are not.
    expected = registry.clinics - {VERIFIED_CLINIC, RENAMED_CLINIC}
    assert f"listings made from the registry: {len(expected)} (unpublished" in result.output
    assert "not placed: 1" in result.output and "LOST PT" in result.output
    made = {key: location for key, location in by_external_id(app).items()
            if location.source is Source.NPPES}
    assert set(made) == {f"nppes:{number}" for number in expected}
    one = made[f"nppes:{npi(106)}"]
    assert one.status is Status.UNPUBLISHED and one.unpublished_reason == "nppes"
    assert (one.name, one.npi, one.npi_status) == ("MOTION 106 PT INC", npi(106), "verified")
    assert (one.geocode_precision, one.postcode) == ("postcode", "60601")
    assert (one.city, one.region, one.phone) == ("CHICAGO", "IL", "+1 512-555-0123")

    again = runner.invoke("nppes", "import", str(registry.path), "--create-listings")
    assert "listings made from the registry: 0 (unpublished" in again.output
    assert len([location for location in by_external_id(app).values()
                if location.source is Source.NPPES]) == len(expected)
    # Not searchable: patients see only published listings.
    names = [hit["name"] for hit in client.get("/api/v1/search", query_string={
        "postcode": "60601", "radius": 50}).get_json()["results"]]
    assert names == []
    assert client.get(f"/api/v1/listings/{one.id}").status_code == 404


def test_import_verify_and_listings_on_every_database(any_database_app: Flask,
                                                      tmp_path: Path) -> None:
    from finder.geocode.gazetteer import Gazetteer
    from finder.search import get_backend
    from finder.trust import nppes
    from finder.trust.nppes_file import read_registry

    app = any_database_app
    fill_directory(app)
    made = write_registry(tmp_path / "npidata.csv", filler=200)
    for _ in range(2):  # the second run changes nothing
        with session_scope(app) as session, open(made.path, encoding="utf-8",
                                                 newline="") as handle:
            nppes.import_registry(session, read_registry(handle), batch_size=50,
                                  on_batch=session.commit)
            nppes.verify_directory(session, date.today(), on_batch=session.commit)
            nppes.create_listings(session, Gazetteer(), date.today(), on_batch=session.commit)
        get_backend(app).catch_up()
    assert set(records(app)) == made.physical_therapy | {CHIROPRACTIC_CLINIC, CLOSED_CLINIC}
    listed = by_external_id(app)
    assert {key: listed[key].npi_status for key in ("east", "river", "lake", "old", "ghost")} == {
        "east": "verified", "river": "mismatch", "lake": "mismatch", "old": "deactivated",
        "ghost": "not_found"}
    from_registry = [location for location in listed.values() if location.source is Source.NPPES]
    assert len(from_registry) == len(made.clinics - {VERIFIED_CLINIC, RENAMED_CLINIC})
    found = app.test_client().get("/api/v1/search", query_string={
        "postcode": "78701", "radius": 10}).get_json()["results"]
    assert {hit["name"] for hit in found if hit["npi_verified"]} == {"Eastside Physical Therapy"}
    assert not any(hit["name"].startswith("MOTION") for hit in found)


def test_a_moderator_publishes_a_registry_listing(app: Flask, runner: Runner,
                                                 registry: RegistryFile) -> None:
    from tests.test_moderation_queue import csrf, moderator

    runner.invoke("nppes", "import", str(registry.path), "--create-listings")
    made = by_external_id(app)[f"nppes:{npi(116)}"]  # a clinic in Austin
    staff, public = moderator(app), app.test_client()
    path = f"/moderation/listings/{made.id}"
    page = staff.get(path).get_data(as_text=True)
    assert "From the NPI registry." in page and 'value="Publish"' in page
    response = staff.post(path, data={"csrf_token": csrf(staff, path), "publish": "1",
                                      "reason": "Checked against the registry"})
    assert response.status_code == 302
    found = public.get("/api/v1/search", query_string={"postcode": "78701", "radius": 5}
                       ).get_json()["results"]
    assert [(hit["name"], hit["npi_verified"], hit["source"]) for hit in found] == [
        ("MOTION 116 PT INC", True, "nppes")]
    assert "NPI verified" in public.get(f"/providers/{made.id}").get_data(as_text=True)


# -- memory ----------------------------------------------------------------------------------


def peak_rss_of_import(data_dir: Path, path: Path) -> int:
    """Run `finder nppes import` in a process of its own; return its peak RSS in KiB."""
    launcher = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "assert done.returncode == 0, done.stdout + done.stderr\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    env = {**os.environ, "FINDER_DATA_DIR": str(data_dir)}
    done = subprocess.run([sys.executable, "-c", launcher, sys.executable, "-m", "finder",
                           "nppes", "import", str(path), "--batch-size", "2000"],
                          env=env, capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1])


def test_a_large_file_is_imported_in_bounded_memory(tmp_path: Path, data_dir: Path) -> None:
    small = write_registry(tmp_path / "small.csv", filler=2_000)
    large = write_registry(tmp_path / "large.csv", filler=80_000)
    assert large.path.stat().st_size > 30 * small.path.stat().st_size
    small_peak = peak_rss_of_import(data_dir, small.path)
    large_peak = peak_rss_of_import(data_dir, large.path)
    # Holding 80,000 rows, or even only the 56,000 kept, would take well over 50 MB more.
    assert large_peak - small_peak < 25 * 1024, (small_peak, large_peak)
    app_records = sa.create_engine(f"sqlite:///{data_dir / 'finder.sqlite3'}")
    with app_records.connect() as connection:
        stored = connection.scalar(sa.text("SELECT count(*) FROM nppes_record"))
    app_records.dispose()
    assert stored == len(large.physical_therapy | small.physical_therapy)


# -- what patients and moderators see --------------------------------------------------------


def test_patients_see_npi_verified_only_for_a_verified_npi(
        app: Flask, client: FlaskClient, runner: Runner, registry: RegistryFile) -> None:
    fill_directory(app)
    runner.invoke("nppes", "import", str(registry.path))
    listed = by_external_id(app)
    for key, verified in [("east", True), ("river", False), ("old", False), ("ghost", False),
                          ("plain", False)]:
        location = listed[key]
        page = client.get(f"/providers/{location.id}").get_data(as_text=True)
        assert ("NPI verified" in page) is verified, key
        document = client.get(f"/api/v1/listings/{location.id}").get_json()
        assert document["npi_verified"] is verified
        assert "npi_detail" not in document and "npi_status" not in document
        if location.npi_detail:
            assert location.npi_detail not in page
            assert location.npi_detail not in json.dumps(document)
    found = client.get("/api/v1/search", query_string={"postcode": "78701", "radius": 10}
                       ).get_json()["results"]
    assert {hit["name"]: hit["npi_verified"] for hit in found} == {
        "Eastside Physical Therapy": True, "Riverside Needling": False, "Lakeside PT": False,
        "Old Town Therapy": False, "Ghost Clinic": False, "Plain Clinic": False}
    results = client.get("/search", query_string={"postcode": "78701", "radius": 10}
                         ).get_data(as_text=True)
    assert results.count('class="npi-verified"') == 1
    assert "NORTH HILLS" not in results and "deactivated" not in results.lower()


# -- in a browser ----------------------------------------------------------------------------

browser = browsing.browser
MODERATOR, PASSWORD = "mod@finder.example", "correct horse battery"


def _fill_site(app: Flask) -> None:
    from finder.geocode.gazetteer import Gazetteer
    from finder.trust import nppes
    from finder.trust.nppes_file import read_registry

    fill_directory(app)
    path = Path(app.config["DATA_DIR"]) / "npidata.csv"
    write_registry(path, filler=40)
    with session_scope(app) as session, open(path, encoding="utf-8", newline="") as handle:
        nppes.import_registry(session, read_registry(handle), on_batch=session.commit)
        nppes.verify_directory(session, date.today(), on_batch=session.commit)
        nppes.create_listings(session, Gazetteer(), date.today(), on_batch=session.commit)
        create_account(session, MODERATOR, PASSWORD, "moderator")
        session.commit()




@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path) -> Iterator[Server]:
    yield from serve_directory(tmp_path_factory, migrated_database, "nppes", _fill_site)


@pytest.fixture
def open_page(browser: Browser, site: Server) -> Iterator[PageFactory]:
    yield from page_factory(browser, site.url)


def _listing_id(site: Server, name: str) -> int:
    import urllib.request

    with urllib.request.urlopen(f"{site.url}/api/v1/search?postcode=78701&radius=10") as answer:
        hits = json.load(answer)["results"]
    return int(next(hit["id"] for hit in hits if hit["name"] == name))


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_profile_shows_npi_verified(open_page: PageFactory, site: Server, device: str) -> None:
    page = open_page(**(DESKTOP if device == "desktop" else PHONE))
    page.goto(f"/providers/{_listing_id(site, 'Eastside Physical Therapy')}")
    expect(page.locator(".badges .npi-verified")).to_have_text("NPI verified")
    assert_accessible(page)
    shot(page, f"nppes-profile-{device}")
    page.goto("/search?postcode=78701&radius=10")
    expect(page.locator(".result .npi-verified")).to_have_count(1)
    shot(page, f"nppes-results-{device}")


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_moderators_see_the_registry_s_word(open_page: PageFactory, site: Server,
                                            device: str) -> None:
    page = open_page(**(DESKTOP if device == "desktop" else PHONE))
    page.goto("/login")
    page.get_by_label("E-mail").fill(MODERATOR)
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Moderation")
    page.goto("/moderation/listings?npi=problems")
    expect(page.locator("ul.found li")).to_have_count(4)
    shot(page, f"nppes-moderation-problems-{device}")
    page.get_by_role("link", name="Riverside Needling").click()
    expect(page.locator(".npi-status")).to_contain_text(MISMATCH_DETAIL_SAID)
    expect(page.locator("table.registry")).to_contain_text("NORTH HILLS PHYSICAL THERAPY LLC")
    assert_accessible(page)
    shot(page, f"nppes-moderation-mismatch-{device}")
    page.goto("/moderation/listings?npi=registry")
    page.locator("ul.found a").first.click()
    expect(page.locator(".from-registry")).to_contain_text("From the NPI registry")
    expect(page.locator("table.registry")).to_contain_text(PT_CLINIC)
    assert_accessible(page)
    shot(page, f"nppes-moderation-registry-{device}")
