"""The package version, in one place (the package root and the runs tables' provenance both read it)."""

__version__ = "0.1.0"
