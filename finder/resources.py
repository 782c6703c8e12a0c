"""Locate the templates/ and data/ folders, in a source checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Return the folder ``name`` ("templates" or "data").

    A wheel installs them inside the package (as finder.templates and finder.data); a source
    checkout, editable installs included, keeps them at the top level of the repository.
    """
    installed = _PACKAGE / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name
