"""A fake ComfyUI server for tests: speaks ComfyUI 0.3.64's wire protocol byte for byte.

It runs as a separate process (``python -m tests.fakecomfy``) so a test can SIGKILL and
restart it like a real server. Behaviour follows the recordings in
``tests/fixtures/comfy/transcripts``; ``--version 0.46.0`` switches on the documented changes of
newer servers. Start it from tests with :class:`FakeComfy` or the ``fake_comfy`` fixture.
"""

from .harness import FakeComfy, FakeComfyError

__all__ = ["FakeComfy", "FakeComfyError"]
