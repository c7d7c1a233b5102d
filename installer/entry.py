"""Entry point of the frozen app: one program, two faces, chosen by the executable's name.

The one-folder build holds two executables made from this script (`automata-desktop`, the GUI, and
`automata`, the CLI) so they share a single copy of Qt, VTK and Python.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    name = Path(sys.executable).stem.lower()
    if name.startswith("automata-desktop") or name.startswith("automata desktop"):
        from automata_desktop.app import main as gui_main

        return gui_main()
    from automata_desktop.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())
