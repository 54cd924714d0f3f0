"""The study package's errors: each a :class:`~mixscale.errors.ValidationError`, so the CLI prints one line naming
the field and exits with code 2."""

from __future__ import annotations

from mixscale.errors import ValidationError


class StorageError(ValidationError):
    """The storage URL points at something we must not or cannot use (foreign, corrupt, newer schema, missing,
    unwritable)."""

    def __init__(self, message: str) -> None:
        super().__init__("storage", message)


class StudyLockedError(ValidationError):
    """Another live driver holds the study."""

    def __init__(self, message: str) -> None:
        super().__init__("storage", message)


class TrialsFailingError(ValidationError):
    """``max_failures`` trials in a row failed: the objective (or its command) is broken, not unlucky."""

    def __init__(self, message: str) -> None:
        super().__init__("objective", message)
