"""``python -m mixscale.cli``: the same command as ``mixscale``."""

from mixscale.cli import app

app()
