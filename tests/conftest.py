"""Shared fixtures. Every test runs with its own config and data folders, never the user's."""

from __future__ import annotations

import pytest

from tests.fakecomfy.fixtures import fake_comfy, fake_comfy_factory  # noqa: F401

#: pytest-timeout's limit for `slow` tests: a wheel built into a fresh venv or a PyInstaller build
#: runs for many minutes on a 2-core machine; the 300 s default (pyproject.toml) is for the rest.
SLOW_TIMEOUT_S = 3600


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_S))


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("AUTOMATA_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("AUTOMATA_DATA_DIR", str(home / "data"))
    for name in ("AUTOMATA_SERVER", "AUTOMATA_WEBHOOK_SECRET", "AUTOMATA_WEBHOOK_PORT",
                 "AUTOMATA_LIBRARY_DIR"):
        monkeypatch.delenv(name, raising=False)
    return home
