"""AUTOMATA's exceptions. Every message is written for the user: it says what failed and the fix.

    AutomataError
    ├── ConfigError                 bad settings file / value
    ├── WorkflowError               workflow or manifest unusable
    │   └── ParameterError          a parameter value of the wrong type or unknown name
    ├── ComfyError                  anything talking to a ComfyUI server
    │   ├── ServerUnreachable       connection refused / DNS / timeout while connecting
    │   ├── ServerResponseError     an unexpected HTTP status or body
    │   ├── PromptRejected          400 from POST /prompt, with per-node errors
    │   ├── MissingNodes            the server lacks node classes a workflow needs
    │   └── DownloadError           /view or /upload failed, size or checksum mismatch
    ├── WebhookError                listener could not start (port taken, bad secret)
    ├── LibraryError                local library unreadable / disk full
    ├── MeshError, TextureError     (core.mesh, core.texture_set) unreadable mesh or image
    └── SyncError                   (sync.errors) Supabase sync
        ├── AuthError               wrong password, unconfirmed email, expired session
        └── SyncOffline             Supabase unreachable: a normal state, retried later
"""

from __future__ import annotations


class AutomataError(Exception):
    """Base of everything AUTOMATA raises on purpose."""


class ConfigError(AutomataError):
    pass


class WorkflowError(AutomataError):
    pass


class ParameterError(WorkflowError):
    pass


class ComfyError(AutomataError):
    pass


class ServerUnreachable(ComfyError):
    pass


class ServerResponseError(ComfyError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PromptRejected(ComfyError):
    """The server refused a workflow; `problems` holds one readable line per node input."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message if not problems else message + "\n  " + "\n  ".join(problems))
        self.problems = problems or []


class MissingNodes(ComfyError):
    def __init__(self, server: str, missing: dict[str, str | None]) -> None:
        self.server = server
        self.missing = missing  # class_type -> node pack that provides it (None if unknown)
        parts = [f"{cls} (install {pack})" if pack else cls for cls, pack in sorted(missing.items())]
        super().__init__(f"ComfyUI at {server} is missing nodes: {', '.join(parts)}")


class DownloadError(ComfyError):
    pass


class WebhookError(AutomataError):
    pass


class LibraryError(AutomataError):
    pass
