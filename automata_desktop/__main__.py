"""`python -m automata_desktop` starts the desktop app."""

from automata_desktop.app import main

raise SystemExit(main())
