"""`python -m neo` runs the `neo` command line."""

from neo.cli import main

main()
