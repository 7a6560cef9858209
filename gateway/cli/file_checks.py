"""The shared output contract of every `flexhub <protocol> validate FILE...` command.

Operators script around these commands, so all of them print `<file>: valid` or
`<file>: invalid: <reason>` per file and exit 0 only when every file is valid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn

import typer


def report_files(files: Iterable[Path], check: Callable[[Path], str | None]) -> NoReturn:
    """Run ``check`` (None = valid, else the reason) on each file, print, and exit."""
    failures = 0
    for path in files:
        try:
            reason = check(path)
        except OSError as exc:
            reason = f"cannot read file: {exc.strerror or exc}"
        if reason is None:
            typer.echo(f"{path}: valid")
        else:
            failures += 1
            typer.echo(f"{path}: invalid: {reason}")
    raise typer.Exit(1 if failures else 0)
