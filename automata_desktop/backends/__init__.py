"""Where workflows run: one `Backend` protocol, a ComfyUI and an in-process implementation.

`open_backend(server)` is the one place a server name picks an implementation: the name
`config.LOCAL_SERVER` is the in-process runner, any URL a ComfyUI server (Comfy Cloud included,
given its API key).
"""

from __future__ import annotations

from collections.abc import Callable

from automata_desktop.backends.base import (
    Backend,
    CancelOutcome,
    Capabilities,
    Inputs,
    JobHandle,
    JobSpec,
)
from automata_desktop.comfy.client import ComfyClient
from automata_desktop.config import LOCAL_SERVER

__all__ = [
    "Backend", "CancelOutcome", "Capabilities", "Inputs", "JobHandle", "JobSpec", "open_backend",
]


def open_backend(server: str, *, api_key: str | None = None,
                 client: Callable[[str], ComfyClient] | None = None) -> Backend:
    """The backend a generation's `server` names (not yet connected)."""
    if server == LOCAL_SERVER:
        from automata_desktop.backends.inprocess import InProcessBackend

        return InProcessBackend()
    from automata_desktop.backends.comfyui import ComfyBackend

    make = client or (lambda url: ComfyClient(url, api_key=api_key))
    return ComfyBackend(make(server))
