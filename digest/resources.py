"""Where the package's non-Python files live, in a checkout and in an installed wheel alike."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_path(name: str) -> Path:
    """Return the folder `name` ("templates", "migrations", "snapshot").

    A wheel carries templates/ and migrations/ inside the package (pyproject's force-include); an
    editable install or a checkout has them beside the package, where DESIGN.md puts them.
    """
    inside = _PACKAGE / name
    if inside.exists():
        return inside
    return _PACKAGE.parent / name
