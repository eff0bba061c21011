"""`python -m bot ...` is `candor ...` (used to start gateway replicas as child processes)."""

from bot.cli import app

app(prog_name="candor")
