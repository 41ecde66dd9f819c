"""`python -m cli` is the `codexbot` command."""

from cli.main import main

main(prog_name="codexbot")
