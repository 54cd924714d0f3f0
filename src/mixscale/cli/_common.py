"""What every ``mixscale`` command shares: the validation boundary (one line, exit code 2) and option parsing."""

from __future__ import annotations

import functools

import typer
from rich.console import Console

from mixscale.errors import ValidationError

console = Console()


def boundary(fn):
    """Turn a ValidationError into a one-line message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValidationError as exc:
            Console(stderr=True).print(f"[bold red]error[/]: {exc.field}: {exc.message}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper


def split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]
