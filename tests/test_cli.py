"""The `finder` command, run as a user runs it."""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from geopy.distance import geodesic

from finder.cli import main
from finder.geocode.gazetteer import Gazetteer
from tests.conftest import AUSTIN, Runner, Server, csv_text, load, row


def test_generate_is_deterministic_and_at_real_postcodes(runner: Runner, tmp_path: Path) -> None:
    first, second, other = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    runner.invoke("generate", "--count", "60", "--seed", "3", "-o", str(first))
    runner.invoke("generate", "--count", "60", "--seed", "3", "-o", str(second))
    runner.invoke("generate", "--count", "60", "--seed", "4", "-o", str(other))
    assert first.read_text() == second.read_text() != other.read_text()
    rows = list(csv.DictReader(io.StringIO(first.read_text())))
    assert len(rows) == 60
    gazetteer = Gazetteer()
    for generated in rows:
        centroid = gazetteer.postcode(generated["postcode"], generated["country"])
        if generated["latitude"]:
            point = (float(generated["latitude"]), float(generated["longitude"]))
            assert geodesic(point, (centroid.lat, centroid.lon)).km < 2.5
        assert "needl" in generated["services"].lower() or "IMS" in generated["services"]


def test_import_reports_and_is_idempotent(runner: Runner, tmp_path: Path) -> None:
    path = tmp_path / "listings.csv"
    path.write_text(csv_text([row("a", "Alpha PT", AUSTIN), row("b", "Beta PT", AUSTIN),
                              row("c", "Bad PT", None, postcode="00000")]))
    result = runner.invoke("import", str(path))
    assert result.exit_code == 0
    assert "created 2, updated 0, unchanged 0, rejected 1" in result.output
    assert "line 4 (c): Postcode '00000' was not found in United States." in result.output
    again = runner.invoke("import", str(path))
    assert "created 0, updated 0, unchanged 2, rejected 1" in again.output


def test_import_refuses_an_unknown_column(runner: Runner, tmp_path: Path) -> None:
    path = tmp_path / "listings.csv"
    path.write_text("external_id,name,favourite_colour\n1,A,red\n")
    result = runner.invoke("import", str(path))
    assert result.exit_code == 1
    assert "Unknown column(s): favourite_colour" in result.output


def test_import_of_a_missing_file_is_a_clear_error(runner: Runner, tmp_path: Path) -> None:
    result = runner.invoke("import", str(tmp_path / "nope.csv"))
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_init_and_reindex(app: Flask, runner: Runner) -> None:
    load(app, [row("a", "Alpha PT", AUSTIN), row("b", "Beta PT", AUSTIN)])
    assert runner.invoke("init").exit_code == 0
    result = runner.invoke("reindex")
    assert result.exit_code == 0
    assert "indexed 2 published listing(s)" in result.output


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("FINDER_SEARCH_BACKEND", "elastic", "FINDER_SEARCH_BACKEND='elastic' is invalid"),
    ("FINDER_DEFAULT_COUNTRY", "USA", "FINDER_DEFAULT_COUNTRY='USA' is invalid"),
    ("FINDER_GEOCODERS", "google", "unknown geocoder(s) google"),
])
def test_bad_settings_are_clear_errors(data_dir: Path, variable: str, value: str,
                                       message: str) -> None:
    result = CliRunner().invoke(main, ["init"], env={"FINDER_DATA_DIR": str(data_dir),
                                                     variable: value})
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_serve_answers_http(app: Flask, data_dir: Path) -> None:
    load(app, [row("a", "Alpha PT", AUSTIN, services="Dry needling")])
    server = Server(data_dir)
    try:
        with urllib.request.urlopen(f"{server.url}/api/v1/search?postcode=78701&q=ims") as answer:
            body = json.load(answer)
        assert [hit["name"] for hit in body["results"]] == ["Alpha PT"]
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"{server.url}/api/v1/search?postcode=00000")
        assert error.value.code == 400
        assert json.load(error.value)["error"]["code"] == "unknown_postcode"
        with urllib.request.urlopen(f"{server.url}/") as page:
            assert "gunicorn" in page.headers["Server"]
    finally:
        server.stop()


def test_import_reads_an_excel_windows_1252_file(runner: Runner, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(csv_text([row("a", "Café Physio", AUSTIN)]).encode("cp1252"))
    result = runner.invoke("import", str(path))
    assert "created 1" in result.output
    assert "line 2 (a): the line is not UTF-8 (byte 0xe9); it was read as Windows-1252" in (
        result.output)


def test_serve_refuses_a_database_that_needs_init(runner: Runner, data_dir: Path) -> None:
    from alembic import command

    from finder.migrate import alembic_config

    command.downgrade(alembic_config(f"sqlite:///{data_dir / 'finder.sqlite3'}"), "0001")
    result = runner.invoke("serve", "--port", "1")
    assert result.exit_code == 1
    assert "run `finder init`" in result.output
    assert runner.invoke("init").exit_code == 0


@pytest.mark.parametrize("command", [["import", "listings.csv"], ["reindex"], ["users", "list"],
                                     ["partners", "list"], ["outbox"], ["verify", "run"],
                                     ["duplicates"]])
def test_commands_on_a_new_data_folder_say_to_run_init(tmp_path: Path,
                                                       command: list[str]) -> None:
    (tmp_path / "listings.csv").write_text(csv_text([row("a", "Eastside Physio", AUSTIN)]))
    result = Runner(tmp_path / "new").invoke(*[
        str(tmp_path / part) if part.endswith(".csv") else part for part in command])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: The database schema is missing or older than this release: run `finder init`.")


def test_a_made_secret_key_is_kept_and_shared(tmp_path: Path) -> None:
    from finder import create_app

    first = create_app({"DATA_DIR": str(tmp_path / "instance"), "SECRET_KEY": ""})
    again = create_app({"DATA_DIR": str(tmp_path / "instance"), "SECRET_KEY": ""})
    assert first.config["SECRET_KEY"] == again.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) == 64
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o077 == 0
    assert list((tmp_path / "instance").glob(".secret_key.*")) == []
    set_key = create_app({"DATA_DIR": str(tmp_path / "instance"), "SECRET_KEY": "given"})
    assert set_key.config["SECRET_KEY"] == "given"
