"""The ``mixscale`` command. One module per command group; :mod:`mixscale.cli._common` holds the boundary.

Bad input (unknown strategy, invalid mixture, malformed study file, ...) prints one line naming the field and
exits with code 2.
"""

from __future__ import annotations

import typer

app = typer.Typer(help="Data-mixture optimization for LLM pre-training.", no_args_is_help=True, add_completion=False)


def _mount_subcommands() -> None:
    from mixscale.cli.run import benchmark, optimize

    app.command()(benchmark)
    app.command()(optimize)

    from mixscale.exchangeable.cli import app as exchangeable_app

    app.add_typer(exchangeable_app, name="exchangeable", help="Exchangeable sequence models (seed paper 2).")

    from mixscale.cli.study import app as study_app

    app.add_typer(study_app, name="study", help="Inspect, export and report persisted studies.")

    from mixscale.cli.train import corpus_app, sweep_command, train_command

    app.add_typer(corpus_app, name="corpus")
    app.command("train")(train_command)
    app.command("sweep")(sweep_command)

    from mixscale.cli.simulator import app as simulator_app

    app.add_typer(simulator_app, name="simulator")


_mount_subcommands()


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
