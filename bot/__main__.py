"""`python -m bot ...` is `candor ...` (used to start gateway replicas as child processes)."""

from bot.cli.app import main

main()
