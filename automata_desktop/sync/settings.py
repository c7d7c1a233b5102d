"""Which Supabase project to sync with, and a guard against putting a secret key in the app."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass

from automata_desktop.errors import ConfigError

DEFAULT_BUCKET = "textures"
#: Supabase's global file size limit unless the project raised it (Storage → Settings): 50 MB.
FREE_PLAN_UPLOAD_LIMIT = 50 * 1024 * 1024
_URL = re.compile(r"^https?://[^\s/]+(:\d+)?/?$")


def _jwt_role(key: str) -> str | None:
    parts = key.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    return payload.get("role") if isinstance(payload, dict) else None


@dataclass(frozen=True, slots=True)
class SupabaseSettings:
    """The project URL and its *anon* (publishable) key, both from Project Settings → API."""

    url: str
    anon_key: str
    bucket: str = DEFAULT_BUCKET
    #: The largest file the project's Storage takes, bytes; larger maps stay on this computer.
    upload_limit: int = FREE_PLAN_UPLOAD_LIMIT

    def __post_init__(self) -> None:
        if self.upload_limit < 1:
            raise ConfigError(f"The Supabase upload limit must be positive, not "
                              f"{self.upload_limit}")
        if not _URL.match(self.url.strip()):
            raise ConfigError(f"Supabase URL {self.url!r} is not a project URL like "
                              "https://abcd1234.supabase.co")
        key = self.anon_key.strip()
        if not key:
            raise ConfigError("The Supabase anon key is empty; copy it from Project Settings → API")
        # A secret key bypasses every RLS policy; anyone holding the app would hold it too.
        if key.startswith("sb_secret_") or _jwt_role(key) == "service_role":
            raise ConfigError("That is the Supabase service_role/secret key, which bypasses all "
                              "security rules; use the anon (publishable) key instead")
        object.__setattr__(self, "url", self.url.strip().rstrip("/"))
        object.__setattr__(self, "anon_key", key)
