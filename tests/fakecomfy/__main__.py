"""``python -m tests.fakecomfy --port P --root DIR [--version V] [--custom-nodes DIR ...]``."""

from .app import main

main()
