"""Settings: one JSON file in the user's config dir, overridden by `AUTOMATA_*` variables and flags.

Precedence (lowest first): defaults → settings.json → environment → explicit overrides (CLI flags).
The webhook secret is generated on first use and stored in the settings file (mode 0600), never logged.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
from base64 import b64encode
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from automata_desktop import paths
from automata_desktop.errors import ConfigError

DEFAULT_COMFY_URL = "http://127.0.0.1:8188"
DEFAULT_COMFY_PORT = 8188
DEFAULT_WEBHOOK_PORT = 8199
WEBHOOK_PATH = "/hooks/comfyui"  # where the listener takes deliveries
LOCAL_SERVER = "local"  # the in-process backend: model-free workflows without ComfyUI
SETTINGS_FILE = "settings.json"


def normalize_server_url(text: str) -> str:
    """Turn what users type (`host:port`, `host`, `http://host:port/`, `https://…`) into a base URL.

    `local` (the in-process backend) is passed through. Raises ConfigError with an example on garbage.
    """
    raw = text.strip()
    if not raw:
        raise ConfigError("empty server address; use e.g. 127.0.0.1:8188 or http://host:8188")
    if raw.lower() == LOCAL_SERVER:
        return LOCAL_SERVER
    if "://" not in raw:
        raw = "http://" + raw
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        raise ConfigError(f"unsupported scheme in server address {text!r}; use http:// or https://")
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # port out of range / not a number
        raise ConfigError(f"bad port in server address {text!r}") from exc
    if not host:
        raise ConfigError(f"no host in server address {text!r}; use e.g. 127.0.0.1:8188")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None:
        port = DEFAULT_COMFY_PORT if scheme == "http" else 443
    path = parts.path.rstrip("/")
    return f"{scheme}://{host}:{port}{path}"


def is_loopback_url(url: str) -> bool:
    """True when the URL names this computer (a server there reads our files, a webhook there
    cannot be called from another machine)."""
    return is_loopback_host(urlsplit(url).hostname or "")


def is_loopback_host(host: str) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1: the one loopback test, for URLs and listen addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def generate_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes (the one generator:
    settings, the node pack's key file and `webhook.generate_secret` all use it)."""
    return "whsec_" + b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True, slots=True)
class ServerConfig:
    url: str
    name: str = ""
    api_key: str | None = None  # Comfy Cloud / proxies; sent as X-API-Key
    #: takes no new generation when several servers share the work (see jobs/pool)
    paused: bool = False

    @property
    def label(self) -> str:
        return self.name or self.url


@dataclass(frozen=True, slots=True)
class Settings:
    servers: tuple[ServerConfig, ...] = (ServerConfig(DEFAULT_COMFY_URL, "local ComfyUI"),)
    default_server: str = DEFAULT_COMFY_URL
    webhook_host: str = "127.0.0.1"
    webhook_port: int = DEFAULT_WEBHOOK_PORT
    webhook_public_url: str = ""  # what a remote ComfyUI should POST to, when not derivable
    webhook_secret: str = field(default="", repr=False)
    library_dir: str = ""  # empty: <user data dir>/library
    timeout_minutes: float = 45.0
    poll_interval_s: float = 30.0  # slow /history safety net while the websocket is up
    #: how often a generation is sent again when a restarted ComfyUI lost it (0: fail at once)
    resubmit_attempts: int = 1
    #: workflow name -> the server it always runs on when several share the work (pinned)
    workflow_pins: dict[str, str] = field(default_factory=dict)
    theme: str = "dark"
    supabase_url: str = ""  # empty: sync off, the library stays local only
    supabase_anon_key: str = field(default="", repr=False)  # the public anon key, never service_role
    #: The project's Storage file size limit (Storage → Settings); Supabase's free plan: 50 MB.
    supabase_upload_limit_mb: int = 50

    @property
    def library_path(self) -> Path:
        return Path(self.library_dir).expanduser() if self.library_dir else paths.data_dir() / "library"

    def server(self, url_or_name: str | None = None) -> ServerConfig:
        """Find a configured server by name or URL; an unknown address becomes an ad-hoc server."""
        wanted = url_or_name or self.default_server
        for server in self.servers:
            if wanted in (server.name, server.url):
                return server
        url = normalize_server_url(wanted)
        for server in self.servers:
            if server.url == url:
                return server
        return ServerConfig(url)

    def pin_for(self, workflow: str, servers: tuple[str, ...]) -> str:
        """The server `workflow` is pinned to when it is one of several `servers`, else ""."""
        pin = self.workflow_pins.get(workflow, "")
        return pin if len(servers) > 1 and pin in servers else ""

    def with_pin(self, workflow: str, server: str) -> Settings:
        """These settings with `workflow` pinned to `server` ("" or None: to none)."""
        pins = {k: v for k, v in self.workflow_pins.items() if k != workflow}
        if server:
            pins[workflow] = server
        return replace(self, workflow_pins=pins)


_ENV = {
    "AUTOMATA_SERVER": "default_server",
    "AUTOMATA_WEBHOOK_HOST": "webhook_host",
    "AUTOMATA_WEBHOOK_PORT": "webhook_port",
    "AUTOMATA_WEBHOOK_PUBLIC_URL": "webhook_public_url",
    "AUTOMATA_WEBHOOK_SECRET": "webhook_secret",
    "AUTOMATA_LIBRARY_DIR": "library_dir",
    "AUTOMATA_TIMEOUT_MIN": "timeout_minutes",
    "AUTOMATA_POLL_INTERVAL": "poll_interval_s",
    "AUTOMATA_RESUBMIT_ATTEMPTS": "resubmit_attempts",
    "AUTOMATA_SUPABASE_URL": "supabase_url",
    "AUTOMATA_SUPABASE_ANON_KEY": "supabase_anon_key",
    "AUTOMATA_SUPABASE_UPLOAD_LIMIT_MB": "supabase_upload_limit_mb",
}


def settings_path() -> Path:
    return paths.config_dir() / SETTINGS_FILE


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r} must be a number, got {value!r}") from exc
    return str(value)


def _from_mapping(data: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    known = {f.name for f in fields(Settings)}
    for key, value in data.items():
        if key == "servers":
            if not isinstance(value, list):
                raise ConfigError("'servers' must be a list of {url, name}")
            values["servers"] = tuple(
                ServerConfig(normalize_server_url(s["url"]), s.get("name", ""), s.get("api_key"),
                             s.get("paused") is True)
                for s in value
                if isinstance(s, dict) and s.get("url")
            )
        elif key == "workflow_pins":
            if not isinstance(value, dict):
                raise ConfigError("'workflow_pins' must map workflow names to servers")
            values[key] = {str(k): normalize_server_url(str(v)) for k, v in value.items() if v}
        elif key in known:
            values[key] = _coerce(key, value)
    if "default_server" in values:
        values["default_server"] = normalize_server_url(values["default_server"])
    return values


def load_settings(path: Path | None = None, *, env: dict[str, str] | None = None,
                  overrides: dict[str, Any] | None = None, create_secret: bool = True) -> Settings:
    """Read settings; a missing file gives defaults. A fresh webhook secret is saved on first use."""
    path = path or settings_path()
    env = os.environ if env is None else env
    file_values: dict[str, Any] = {}
    if path.exists():
        try:
            raw = json.loads(path.read_text(encoding="utf-8") or "{}")
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read settings file {path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"settings file {path} must hold a JSON object")
        file_values = _from_mapping(raw)
    settings = replace(Settings(), **file_values)
    if create_secret and not settings.webhook_secret:
        settings = replace(settings, webhook_secret=generate_webhook_secret())
        with contextlib.suppress(ConfigError):  # read-only config dir: secret lives for this run
            save_settings(settings, path)
    env_values = _from_mapping({_ENV[k]: v for k, v in env.items() if k in _ENV and v != ""})
    return replace(settings, **{**env_values, **_from_mapping(overrides or {})})


def save_settings(settings: Settings, path: Path | None = None) -> None:
    path = path or settings_path()
    data = asdict(settings)
    data["servers"] = [
        {k: v for k, v in asdict(s).items() if v not in (None, "", False)}
        for s in settings.servers
    ]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write settings file {path}: {exc.strerror or exc}") from exc


# ---------------------------------------------------------------------- viewport preferences
# Kept apart from settings.json: they change with every file opened, and the settings dialog
# rewrites settings.json whole.

VIEW_PREFS_FILE = "view.json"
RECENT_FILES_MAX = 10


@dataclass(frozen=True)
class ViewPrefs:
    """What the viewport remembers between runs: recent meshes, per-file up axis, lighting."""

    recent_files: tuple[str, ...] = ()
    up_axes: tuple[tuple[str, str], ...] = ()  # (resolved path, "Y" | "Z"): the user's override
    hdri: str = "studio"  # a bundled name or the path of the user's .hdr/.exr
    hdri_rotation: float = 0.0  # degrees about the up axis
    exposure: float = 0.0  # stops: +1 doubles the light
    show_background: bool = False

    def up_axis_for(self, path: str | Path) -> str | None:
        key = str(Path(path).resolve())
        return next((axis for p, axis in self.up_axes if p == key), None)

    def with_up_axis(self, path: str | Path, axis: str | None) -> ViewPrefs:
        key = str(Path(path).resolve())
        rest = tuple((p, a) for p, a in self.up_axes if p != key)
        return replace(self, up_axes=rest if axis is None else (*rest, (key, axis)))

    def with_recent(self, path: str | Path) -> ViewPrefs:
        key = str(Path(path).resolve())
        files = (key, *(p for p in self.recent_files if p != key))[:RECENT_FILES_MAX]
        return replace(self, recent_files=files)


def view_prefs_path() -> Path:
    return paths.config_dir() / VIEW_PREFS_FILE


def load_view_prefs(path: Path | None = None) -> ViewPrefs:
    """The saved preferences; defaults when the file is missing or unreadable (never fatal)."""
    path = path or view_prefs_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ViewPrefs()
    if not isinstance(raw, dict):
        return ViewPrefs()
    known = {f.name for f in fields(ViewPrefs)}
    values: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
    with contextlib.suppress(TypeError, ValueError):
        values["recent_files"] = tuple(str(p) for p in values.get("recent_files", ()))
        values["up_axes"] = tuple((str(p), str(a)) for p, a in values.get("up_axes", ())
                                  if a in ("Y", "Z"))
        return ViewPrefs(**values)
    return ViewPrefs()


def save_view_prefs(prefs: ViewPrefs, path: Path | None = None) -> None:
    path = path or view_prefs_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(prefs), indent=2), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc
