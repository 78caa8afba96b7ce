"""`python -m dancenow` runs the command line."""

from dancenow.cli import main

raise SystemExit(main())
