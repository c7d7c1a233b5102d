"""Pytest fixtures for the fake ComfyUI; the lead imports them from ``tests/conftest.py``:

from tests.fakecomfy.fixtures import fake_comfy, fake_comfy_factory  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import FakeComfy


@pytest.fixture
def fake_comfy_factory(tmp_path: Path) -> Iterator[Callable[..., FakeComfy]]:
    """Starts fake servers on demand (``factory(version="0.46.0", custom_nodes=[...])``)."""
    started: list[FakeComfy] = []

    def factory(**kwargs: Any) -> FakeComfy:
        root = kwargs.pop("root", tmp_path / f"comfy{len(started)}")
        server = FakeComfy(root, **kwargs)
        started.append(server)
        server.start()
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def fake_comfy(fake_comfy_factory: Callable[..., FakeComfy]) -> FakeComfy:
    """A running fake ComfyUI 0.3.64 with its ROOT under ``tmp_path``, killed at teardown."""
    return fake_comfy_factory()
