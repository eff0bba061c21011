"""The `candor` command: one Typer app (`bot.cli.app`) with its groups registered from one list."""
