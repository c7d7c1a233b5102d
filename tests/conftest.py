"""Shared fixtures. Every test runs with its own config and data folders, never the user's."""

from __future__ import annotations

import pytest

from tests.fakecomfy.fixtures import fake_comfy, fake_comfy_factory  # noqa: F401


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("AUTOMATA_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("AUTOMATA_DATA_DIR", str(home / "data"))
    for name in ("AUTOMATA_SERVER", "AUTOMATA_WEBHOOK_SECRET", "AUTOMATA_WEBHOOK_PORT",
                 "AUTOMATA_LIBRARY_DIR"):
        monkeypatch.delenv(name, raising=False)
    return home
