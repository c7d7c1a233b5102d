"""Test helpers: a 'device' (its own config folder, keyring, outbox and library) and real
generations with real image files."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from keyring.backend import KeyringBackend
from PIL import Image

from automata_desktop.core.generation import Generation, GenerationStatus, OutputFile
from automata_desktop.core.maps import MapKind
from automata_desktop.sync import (
    Outbox,
    RemoteGeneration,
    SessionStore,
    SupabaseSettings,
    SyncAuth,
    SyncWorker,
)

from .server import SupabaseStack

_counter = itertools.count()
PASSWORD = "correct horse battery"


def unique_email(name: str) -> str:
    return f"{name}-{next(_counter)}-{uuid.uuid4().hex[:6]}@example.com"


class MemoryKeyring(KeyringBackend):
    """An OS keyring stand-in (there is none on a headless CI box)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.secrets.pop((service, username), None)


@dataclass
class FolderLibrary:
    """The two calls sync needs from the local library, over a dict."""

    generations: dict[str, Generation] = field(default_factory=dict)
    remote: dict[str, RemoteGeneration] = field(default_factory=dict)

    def add(self, generation: Generation) -> Generation:
        self.generations[generation.id] = generation
        return generation

    def get_generation(self, generation_id: str) -> Generation | None:
        return self.generations.get(generation_id)

    def upsert_remote(self, remote: RemoteGeneration) -> None:
        self.remote[remote.generation.id] = remote


@dataclass
class Device:
    """One installation of the app: config folder, keyring, outbox, library."""

    stack: SupabaseStack
    folder: Path
    keyring: KeyringBackend = field(default_factory=MemoryKeyring)
    library: FolderLibrary = field(default_factory=FolderLibrary)
    events: list[tuple[str, str | None]] = field(default_factory=list)
    http_client: httpx.Client | None = None
    auth: SyncAuth = field(init=False)
    outbox: Outbox = field(init=False)

    def __post_init__(self) -> None:
        self.start()

    @property
    def settings(self) -> SupabaseSettings:
        return SupabaseSettings(self.stack.url, self.stack.anon_key)

    def start(self) -> None:
        """(Re)launch the app on this device: a fresh client reading what the last run stored."""
        store = SessionStore(self.folder / "config", self.stack.url, keyring_backend=self.keyring)
        self.auth = SyncAuth(
            self.settings, store, http_client=self.http_client,
            on_change=lambda event, account: self.events.append(
                (event, account.user_id if account else None)))
        self.outbox = Outbox(self.folder / "data")

    def restart(self, http_client: httpx.Client | None = None) -> None:
        self.close()
        self.http_client = http_client
        self.start()

    def close(self) -> None:
        self.auth.close()
        self.outbox.close()
        if self.http_client is not None:
            self.http_client.close()

    def worker(self) -> SyncWorker:
        return SyncWorker(self.auth, self.outbox, self.library)

    def sign_up(self, email: str, password: str = PASSWORD) -> str:
        """Create the account and sign in, whatever the project's "Confirm email" says (with
        it on, the stand-in's default, the link in the email is opened first)."""
        account = self.auth.sign_up(email, password)
        if account is None:
            open_confirmation_link(self.stack, email)
            account = self.auth.sign_in(email, password)
        return account.user_id


def open_confirmation_link(stack: SupabaseStack, email: str) -> httpx.Response:
    """What clicking the link in the newest confirmation email to `email` does: GoTrue confirms
    the address and redirects to the Site URL, which is not followed (no page listens there)."""
    link = next(mail.link for mail in reversed(stack.mailbox) if mail.to == email)
    response = httpx.get(link, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response


def make_generation(folder: Path, prompt: str = "mossy brick wall",
                    kinds: tuple[MapKind, ...] = (MapKind.BASE_COLOR, MapKind.NORMAL,
                                                  MapKind.ROUGHNESS)) -> Generation:
    """A completed generation with real PNG maps on disk."""
    gen_id = str(uuid.uuid4())
    out = folder / gen_id
    out.mkdir(parents=True)
    files = []
    for i, kind in enumerate(kinds):
        path = out / f"{kind.value}.png"
        Image.new("RGB", (32, 16), (40 * i, 90, 200 - 30 * i)).save(path)
        data = path.read_bytes()
        files.append(OutputFile(kind=kind, path=path, sha256=hashlib.sha256(data).hexdigest(),
                                size=len(data), width=32, height=16))
    finished = datetime.now(UTC)
    return Generation(id=gen_id, workflow="pbr_from_prompt", server="http://127.0.0.1:8188",
                      status=GenerationStatus.COMPLETED, prompt=prompt,
                      parameters={"seed": 7, "steps": 20},
                      started_at=finished - timedelta(seconds=42), finished_at=finished,
                      files=files)
