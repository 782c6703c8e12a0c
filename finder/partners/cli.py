"""`finder partners`: add partners, change them, disable them, rotate their keys, see counts."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import click
import sqlalchemy as sa
from flask import current_app

from ..db import session_scope
from ..errors import FinderError
from ..geocode import get_geocoder
from . import counts, keys
from .models import Partner

DEFAULT_BASE_URL = "http://127.0.0.1:5000"


def _preset_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options shared by `create` and `update`: presets, theme and rate limit."""
    options = [
        click.option("--postcode", help="Preset origin postcode."),
        click.option("--city", help="Preset origin city."),
        click.option("--country", help="Country of the preset postcode or city (e.g. US)."),
        click.option("--radius", help="Preset radius."),
        click.option("--unit", type=click.Choice(["mi", "km"]), help="Preset unit."),
        click.option("--keywords", help="Preset keywords."),
        click.option("--filter", "filters", multiple=True, metavar="NAME=VALUE",
                     help="A search filter sent with every search, e.g. insurance=Aetna "
                          "or technique=electrical (repeatable)."),
        click.option("--accent", help="Accent colour (#rrggbb) of buttons and links."),
        click.option("--text-colour", "text", help="Text colour (#rrggbb)."),
        click.option("--font", help="Font family, e.g. \"Inter, sans-serif\"."),
        click.option("--corner-radius", "corner", type=int, help="Corner radius in px (0-24)."),
        click.option("--scheme", type=click.Choice(keys.SCHEMES),
                     help="Colour scheme: follow the visitor's setting, or force one."),
        click.option("--logo", help="Logo URL, on one of the partner's own origins."),
        click.option("--rate-limit", "limit",
                     help="Requests per period through this key, e.g. 600/minute "
                          "(default: FINDER_PARTNER_RATE_LIMIT)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _presets(values: dict[str, Any]) -> dict[str, str]:
    preset = {"postcode": values["postcode"], "city": values["city"],
              "country": values["country"], "radius": values["radius"],
              "unit": values["unit"], "q": values["keywords"]}
    for item in values["filters"]:
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise click.BadParameter(f"{item!r}: write a filter as NAME=VALUE",
                                     param_hint="--filter")
        preset[name.strip()] = value
    return {name: value for name, value in preset.items() if value is not None}


def _look(values: dict[str, Any]) -> dict[str, Any]:
    look = {"accent": values["accent"], "text": values["text"], "font": values["font"],
            "radius": values["corner"], "scheme": values["scheme"], "logo": values["logo"]}
    return {name: value for name, value in look.items() if value is not None}


def _base_url() -> str:
    return str(current_app.config["BASE_URL"] or DEFAULT_BASE_URL)


def _echo_key(partner: Partner, key: str) -> None:
    click.echo(f"partner {partner.id}: {partner.name}")
    click.echo(f"key: {key}  (shown once; only a digest of it is stored)")
    click.echo(f"origins: {' '.join(partner.origins)}")
    lines = keys.snippets(_base_url(), key)
    click.echo("\nScript (renders where it stands):")
    click.echo(f"  {lines['script']}")
    click.echo("\nIframe (with its optional resizer):")
    click.echo(f"  {lines['iframe']}")


def _find(session: Any, key: str) -> Partner:
    """The partner named by its key, or by its number as `finder partners list` shows it."""
    partner = (session.get(Partner, int(key)) if key.isascii() and key.isdigit()
               else keys.by_key(session, key))
    if partner is None:
        raise click.ClickException("No partner has this key or number (a rotated key is gone "
                                   "for good; `finder partners list` shows each partner's "
                                   "number and the first characters of its key).")
    return partner


def _checked(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except FinderError as exc:
        raise click.ClickException(exc.message) from exc


@click.group("partners")
def partners_group() -> None:
    """Manage the sites that embed the search."""


@partners_group.command("create")
@click.argument("name")
@click.option("--origin", "origins", multiple=True, required=True,
              help="An origin the key works from, e.g. https://site.example (repeatable).")
@_preset_options
def create_command(name: str, origins: tuple[str, ...], **values: Any) -> None:
    """Add a partner and print its key and both snippets."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with session_scope(app) as session:
        partner, key = _checked(lambda: keys.create(
            session, name, list(origins), preset=_presets(values), look=_look(values),
            limit=values["limit"] or "", geocoder=get_geocoder(app),
            default_country=app.config["DEFAULT_COUNTRY"]))
        session.commit()
        _echo_key(partner, key)


@partners_group.command("list")
def list_command() -> None:
    """List the partners with their keys' first characters and origins."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with session_scope(app) as session:
        partners = session.scalars(sa.select(Partner).order_by(Partner.id)).all()
        if not partners:
            click.echo("no partners yet: add one with `finder partners create NAME --origin URL`")
        for partner in partners:
            state = "enabled" if partner.enabled else "disabled"
            click.echo(f"{partner.id}  {partner.key_hint}…  {state}  {partner.name}  "
                       f"{' '.join(partner.origins)}")


@partners_group.command("update")
@click.argument("key")
@click.option("--name", help="New name.")
@click.option("--origin", "origins", multiple=True,
              help="Replace the origins with these (repeatable).")
@click.option("--enable", is_flag=True, help="Enable a disabled partner again.")
@_preset_options
def update_command(key: str, name: str | None, origins: tuple[str, ...], enable: bool,
                   **values: Any) -> None:
    """Change a partner: name, origins, presets, theme or rate limit (the rest is kept)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with session_scope(app) as session:
        partner = _find(session, key)

        def change() -> None:
            if name is not None:
                if not name.strip():
                    raise click.BadParameter("the name cannot be empty", param_hint="--name")
                partner.name = name.strip()[:200]
            if origins:
                partner.origins = keys.origins(list(origins))
            partner.defaults = keys.defaults({**partner.defaults, **_presets(values)},
                                             get_geocoder(app), app.config["DEFAULT_COUNTRY"])
            partner.theme = keys.theme({**partner.theme, **_look(values)}, partner.origins)
            if values["limit"] is not None:
                partner.rate_limit = keys.rate_limit(values["limit"])
            if enable:
                partner.enabled = True

        _checked(change)
        session.commit()
        click.echo(f"partner {partner.id} updated: {partner.name}, "
                   f"{'enabled' if partner.enabled else 'disabled'}, "
                   f"origins {' '.join(partner.origins)}")


@partners_group.command("disable")
@click.argument("key")
def disable_command(key: str) -> None:
    """Stop a partner's key from working (its counts are kept)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with session_scope(app) as session:
        partner = _find(session, key)
        partner.enabled = False
        session.commit()
        click.echo(f"partner {partner.id} disabled: {partner.name}")


@partners_group.command("rotate-key")
@click.argument("key")
def rotate_key_command(key: str) -> None:
    """Give a partner a new key; the old one stops working at once."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with session_scope(app) as session:
        partner = _find(session, key)
        new = keys.rotate(session, partner)
        session.commit()
        _echo_key(partner, new)


@partners_group.command("stats")
@click.argument("key", required=False)
@click.option("--days", type=click.IntRange(1, 3660), default=30, show_default=True,
              help="How many days back, today included.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def stats_command(key: str | None, days: int, as_json: bool) -> None:
    """Print each partner's searches, zero-result searches, clicks, profile views and top
    keywords and areas (or one partner's, given its key)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with session_scope(app) as session:
        partners = ([_find(session, key)] if key else
                    session.scalars(sa.select(Partner).order_by(Partner.id)).all())
        if as_json:
            click.echo(json.dumps([
                {"partner": partner.id, "name": partner.name,
                 **dataclasses.asdict(counts.stats(session, partner.id, days))}
                for partner in partners], default=str, indent=2))
            return
        for partner in partners:
            totals = counts.stats(session, partner.id, days)
            click.echo(f"partner {partner.id}: {partner.name} (since {totals.first_day})")
            click.echo(f"  searches {totals.searches}, zero results {totals.zero_results}, "
                       f"clicks {totals.clicks}, profile views {totals.profile_views}")
            click.echo("  top keywords: " + (", ".join(
                f"{value} ({count})" for value, count in totals.keywords) or "none"))
            click.echo("  top areas: " + (", ".join(
                f"{value} ({count})" for value, count in totals.areas) or "none"))
