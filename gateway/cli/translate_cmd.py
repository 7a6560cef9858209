"""`flexhub translate`: convert a document between protocols through the native model."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Filled in by the CIM capability (issue 7)."""
