"""The README stays true to the settings and commands the code declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from finder.cli import main
from finder.settings import SETTINGS

README = (Path(__file__).parent.parent / "README.md").read_text()


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.env_var)
def test_every_setting_is_documented_with_its_default(setting: object) -> None:
    from finder.settings import Setting

    assert isinstance(setting, Setting)
    line = next((text for text in README.splitlines() if f"`{setting.env_var}`" in text), None)
    assert line is not None, f"{setting.env_var} is missing from README.md"
    default = f"`{setting.default}`" if setting.default != "" else "(empty)"
    assert default in line


def _command_names() -> list[str]:
    """Every command, and every subcommand of a group (``partners create``)."""
    import click

    names = []
    for name, command in sorted(main.commands.items()):
        names.append(name)
        if isinstance(command, click.Group):
            names.extend(f"{name} {sub}" for sub in sorted(command.commands))
    return names


@pytest.mark.parametrize("command", _command_names())
def test_every_command_is_documented(command: str) -> None:
    assert f"`finder {command}" in README


def test_every_documented_command_exists() -> None:
    import re

    documented = set(re.findall(r"^\| `finder ([a-z-]+)", README, flags=re.MULTILINE))
    assert documented == set(main.commands)
