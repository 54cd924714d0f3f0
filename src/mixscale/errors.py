"""The one exception users see for bad input: it names the offending field."""

from __future__ import annotations


class ValidationError(ValueError):
    """Bad input at a boundary (mixture, space, study file, CLI option).

    ``field`` names what was wrong (e.g. ``"mixture.github"`` or ``"target.steps"``) so that the CLI can print
    it and exit with code 2 without a traceback.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")
