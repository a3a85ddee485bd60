"""`python -m cchc.cli` (what `cchc up` uses to start the portal and the watchdog)."""

from cchc.cli.main import main

main()
