"""`python -m screenalytics`: the same as the `screenalytics` command (job workers start this way)."""

from screenalytics.cli import main

main()
