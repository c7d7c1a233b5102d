"""The webhook payload the AUTOMATA Webhook node sends. Documented in docs/webhook.md.

The shape follows the Standard Webhooks convention: an event `type`, an ISO `timestamp`, and `data`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from automata_desktop.core.maps import MapKind

EVENT_COMPLETED = "generation.completed"
EVENT_FAILED = "generation.failed"


def _safe_component(value: str, what: str) -> str:
    """Reject names that could escape ComfyUI's folders or ours (`..`, absolute, backslashes)."""
    if "\x00" in value or "\\" in value or value.startswith("/"):
        raise ValueError(f"unsafe {what}: {value!r}")
    if any(part in ("..", ".") for part in value.split("/")):
        raise ValueError(f"unsafe {what}: {value!r}")
    return value


class FileRef(BaseModel):
    """One file: a `/view` reference (filename, subfolder, type) and/or its bytes inline (base64)."""

    model_config = ConfigDict(extra="ignore")

    kind: MapKind
    filename: str = Field(min_length=1, max_length=255)
    subfolder: str = Field(default="", max_length=1024)
    type: Literal["output", "temp", "input"] = "output"
    content_type: str = "image/png"
    size: int | None = Field(default=None, ge=0)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    width: int | None = Field(default=None, ge=1)
    height: int | None = Field(default=None, ge=1)
    bit_depth: int | None = None
    data: str | None = None  # base64, inline delivery only
    #: `data` decoded, once, by the validation that checked it against `size` and `sha256`
    _raw: bytes | None = PrivateAttr(default=None)

    @property
    def raw(self) -> bytes | None:
        return self._raw

    @field_validator("filename")
    @classmethod
    def _filename_is_a_name(cls, v: str) -> str:
        _safe_component(v, "filename")
        if "/" in v:
            raise ValueError(f"filename must not contain '/': {v!r}")
        return v

    @field_validator("subfolder")
    @classmethod
    def _subfolder_is_relative(cls, v: str) -> str:
        return _safe_component(v, "subfolder") if v else v


class GenerationData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    generation_id: str = Field(min_length=1, max_length=128)
    prompt_id: str | None = Field(default=None, max_length=128)
    node_id: str | None = None
    delivery: Literal["reference", "inline"] = "reference"
    files: list[FileRef] = Field(default_factory=list, max_length=64)
    error: str | None = None
    node_pack_version: str | None = None


class WebhookPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["generation.completed", "generation.failed"]
    timestamp: datetime
    data: GenerationData
