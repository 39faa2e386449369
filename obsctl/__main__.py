"""`python -m obsctl` runs the CLI, so the tool works without the console script on PATH."""

from obsctl.cli import main

main()
