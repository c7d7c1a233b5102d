"""What differs between the recorded ComfyUI 0.3.64 and a newer server (0.46.0).

The newer behaviour comes from CHANGES-since-0.3.64 (read from upstream, not recorded live):
client-chosen ``prompt_id`` must be a canonical UUID, sampler-style previews only when
``extra_data.preview_method`` asks, ``metadata`` on output entries, ``create_time`` in
``extra_data``, more feature flags, an unknown broadcast type clients must ignore, and the
``Sec-Fetch-Site: cross-site`` 403, and the Jobs API (``GET /api/jobs``, see ``jobs.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PREVIEW_METHODS_ON = ("auto", "latent2rgb", "taesd")


@dataclass(frozen=True)
class Profile:
    version: str
    validate_prompt_id: bool = False
    previews_need_method: bool = False
    output_metadata: bool = False
    create_time: bool = False
    unknown_broadcasts: bool = False
    block_cross_site: bool = False
    jobs_api: bool = False
    features: dict[str, Any] = field(
        default_factory=lambda: {"supports_preview_metadata": True, "max_upload_size": 104857600}
    )


LEGACY = Profile(version="0.3.64")

MODERN = Profile(
    version="0.46.0",
    validate_prompt_id=True,
    previews_need_method=True,
    output_metadata=True,
    create_time=True,
    unknown_broadcasts=True,
    block_cross_site=True,
    jobs_api=True,
    features={
        "supports_preview_metadata": True,
        "supports_model_type_tags": True,
        "node_replacements": True,
        "assets": False,
        "max_upload_size": 104857600,
    },
)


def profile_for(version: str) -> Profile:
    """Versions before 0.4 behave like the recording, everything newer like 0.46.0."""
    parts = tuple(int(p) for p in version.split(".")[:3] if p.isdigit())
    if parts < (0, 4):
        return Profile(**{**LEGACY.__dict__, "version": version})
    return Profile(**{**MODERN.__dict__, "version": version})
