"""`python -m bot` is the `codexbot` command."""

from bot.cli import main

main(prog_name="codexbot")
