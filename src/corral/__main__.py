"""`python -m corral`: the same as the `corral` command (used to start child processes)."""

from corral.cli import main

main()
