"""`python -m cchc`: the `cchc` command (the same as `python -m cchc.cli`)."""

from cchc.cli.main import main

main()
