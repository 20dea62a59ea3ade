"""`python -m etude`: the same as the `etude` command."""

from .cli import main

raise SystemExit(main())
