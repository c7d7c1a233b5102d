"""Settings: what users type for a server address, files, environment and flags."""

import json
import stat

import pytest

from automata_desktop.config import (
    LOCAL_SERVER,
    ServerConfig,
    is_loopback_url,
    load_settings,
    normalize_server_url,
)
from automata_desktop.errors import ConfigError


@pytest.mark.parametrize(
    ("typed", "url"),
    [
        ("127.0.0.1:8188", "http://127.0.0.1:8188"),
        ("localhost", "http://localhost:8188"),
        ("http://gpu-box:8188/", "http://gpu-box:8188"),
        ("https://comfy.example.org", "https://comfy.example.org:443"),
        ("  10.0.0.5:8000 ", "http://10.0.0.5:8000"),
        ("[::1]:8188", "http://[::1]:8188"),
        ("ws://host:8188", "http://host:8188"),
        ("http://host:8188/comfy/", "http://host:8188/comfy"),
        ("local", LOCAL_SERVER),
    ],
)
def test_server_addresses_as_users_type_them_are_accepted(typed, url):
    assert normalize_server_url(typed) == url


@pytest.mark.parametrize("typed", ["", "ftp://host:21", "http://host:99999", "http://:8188"])
def test_nonsense_server_addresses_get_a_clear_error(typed):
    with pytest.raises(ConfigError):
        normalize_server_url(typed)


def test_loopback_detection():
    assert is_loopback_url("http://127.0.0.1:8188")
    assert is_loopback_url("http://localhost:8188")
    assert is_loopback_url("http://[::1]:8188")
    assert not is_loopback_url("http://192.168.1.20:8188")


def test_defaults_work_on_a_laptop_and_create_a_private_secret(tmp_path):
    path = tmp_path / "settings.json"
    settings = load_settings(path, env={})
    assert settings.server().url == "http://127.0.0.1:8188"
    assert settings.webhook_host == "127.0.0.1"
    assert settings.webhook_secret.startswith("whsec_")
    # the secret is saved once, in a file only the user can read
    assert json.loads(path.read_text())["webhook_secret"] == settings.webhook_secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_settings(path, env={}).webhook_secret == settings.webhook_secret


def test_environment_overrides_the_file_and_flags_override_both(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"default_server": "gpu:8188", "webhook_port": 9000,
                                "servers": [{"url": "gpu:8188", "name": "gpu"}]}))
    env = {"AUTOMATA_WEBHOOK_PORT": "9100", "AUTOMATA_SERVER": "other:8188"}
    settings = load_settings(path, env=env, overrides={"webhook_port": 9200})
    assert settings.webhook_port == 9200
    assert settings.default_server == "http://other:8188"
    assert settings.server("gpu") == ServerConfig("http://gpu:8188", "gpu")


def test_a_broken_settings_file_is_reported_not_a_traceback(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read settings file"):
        load_settings(path, env={})
    path.write_text(json.dumps({"webhook_port": "many"}))
    with pytest.raises(ConfigError, match="must be a number"):
        load_settings(path, env={})
