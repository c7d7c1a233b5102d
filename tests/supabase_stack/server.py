"""A local Supabase look-alike: real PostgreSQL + our migration, served over real HTTP.

Only PostgreSQL of the Supabase stack can run on these machines (no Docker), so this serves the
HTTP surface supabase-py speaks (/auth/v1, /rest/v1, /storage/v1) from an aiohttp app on its own
thread and event loop; each data request runs on PostgreSQL under the caller's JWT role so the
project's grants and RLS policies decide what is allowed.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

import psycopg
from aiohttp import web

from .auth_api import AuthApi
from .db import Pool
from .faults import Faults
from .pg import PgCluster, free_port
from .rest_api import RestApi
from .storage_api import FREE_PLAN_UPLOAD_LIMIT, StorageApi
from .tokens import TEST_JWT_SECRET, api_key
from .tus_api import TusApi

EMULATION_SQL = Path(__file__).with_name("supabase_emulation.sql")
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "resources" / "supabase" / "migrations"
#: PostgREST's `db-max-rows` on a hosted Supabase project.
DEFAULT_MAX_ROWS = 1000


#: The role `supabase db push` connects as on a real project: not a superuser, no owner of
#: the auth and storage schemas (see supabase_emulation.sql).
MIGRATION_ROLE = "postgres"


class MigrationRefused(RuntimeError):
    """A migration file failed as a real project would refuse it; nothing of it was applied."""


def project_migrations() -> list[Path]:
    """The project's migration files in the order `supabase db push` applies them."""
    return sorted(MIGRATIONS_DIR.glob("*.sql"))


def apply_schema(cluster: PgCluster, migrations: Sequence[Path] | None = None) -> None:
    """Supabase's pre-existing roles/auth/storage, then the project's migrations (all of them
    unless `migrations` names some) as `supabase db push` applies them."""
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        conn.execute(EMULATION_SQL.read_text())
    push_migrations(cluster, project_migrations() if migrations is None else migrations)


def push_migrations(cluster: PgCluster, migrations: Sequence[Path]) -> list[str]:
    """What `supabase db push` does with pending files; returns the versions it applied.

    As the CLI does (supabase/cli pkg/migration/apply.go, file.go, history.go): connect as
    `postgres`, keep the history in supabase_migrations.schema_migrations, skip versions
    already there, and run each file, with its history row, as one transaction after a
    `reset all`. A statement the real project refuses fails here too and leaves nothing of
    its file behind.
    """
    applied: list[str] = []
    with psycopg.connect(cluster.conninfo(user=MIGRATION_ROLE), autocommit=True) as conn:
        conn.execute("create schema if not exists supabase_migrations")
        conn.execute("create table if not exists supabase_migrations.schema_migrations "
                     "(version text not null primary key, statements text[], name text)")
        done = {r[0] for r in conn.execute(
            "select version from supabase_migrations.schema_migrations").fetchall()}
        for path in migrations:
            version, _, name = path.stem.partition("_")
            if version in done:
                continue
            text = path.read_text()
            conn.execute("reset all")
            try:
                with conn.transaction():
                    conn.execute(text)
                    conn.execute("insert into supabase_migrations.schema_migrations "
                                 "(version, name, statements) values (%s, %s, %s)",
                                 (version, name, [text]))
            except psycopg.Error as exc:
                raise MigrationRefused(
                    f"{path.name} failed as {MIGRATION_ROLE!r} ({exc.sqlstate}): {exc}"
                ) from exc
            applied.append(version)
    return applied


class SupabaseStack:
    """Start with `SupabaseStack.start(cluster, tmp)`; `url` and `anon_key` go to create_client."""

    def __init__(self, cluster: PgCluster, blob_dir: Path, port: int) -> None:
        self.cluster = cluster
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.jwt_secret = TEST_JWT_SECRET
        self.anon_key = api_key("anon", self.jwt_secret)
        self.service_role_key = api_key("service_role", self.jwt_secret)
        #: GoTrue's settings (Confirm email, Site URL, mailer, refresh-token reuse window) as a
        #: new hosted project has them; AuthApi.reset_settings lists them.
        self.reset_auth()
        #: Lifetime of issued access tokens, seconds (Supabase's default is 3600).
        self.jwt_expiry = 3600
        #: Storage keys ("bucket/name") of every accepted upload, in order.
        self.uploads: list[str] = []
        #: PostgREST's db-max-rows: no read returns more rows (Supabase's default is 1000).
        self.max_rows: int | None = DEFAULT_MAX_ROWS
        #: pg-safeupdate on the API role, as on Supabase: unfiltered PATCH/DELETE fail (21000).
        self.safeupdate = True
        #: Storage's largest accepted object, bytes (None: no limit); the free plan's 50 MB.
        self.upload_limit: int | None = FREE_PLAN_UPLOAD_LIMIT
        #: Drop the TUS PATCH that would take an upload past this offset, there (one-shot).
        self.tus_cut_at: int | None = None
        #: (Upload-Offset, bytes received) of every TUS PATCH.
        self.tus_patches: list[tuple[int, int]] = []
        #: Answer the next requests of a route with 429/503/504 (see faults.py).
        self.faults = Faults()
        self.admin_pool = Pool(cluster.conninfo())
        self.api_pool = Pool(cluster.conninfo(user="authenticator"))
        self._blob_dir = blob_dir
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="supabase-stack")
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @classmethod
    def start(cls, cluster: PgCluster, blob_dir: Path) -> SupabaseStack:
        blob_dir.mkdir(parents=True, exist_ok=True)
        stack = cls(cluster, blob_dir, free_port())
        stack._thread.start()
        stack._call(stack._setup())
        stack.start_http()
        return stack

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _setup(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024,
                              middlewares=[self.faults.middleware])
        app.add_routes(AuthApi(self).routes())
        app.add_routes(RestApi(self).routes())
        storage = StorageApi(self, self._blob_dir)
        app.add_routes(storage.routes())
        app.add_routes(TusApi(self, storage).routes())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()

    @property
    def serving(self) -> bool:
        return self._site is not None

    def start_http(self) -> None:
        """Serve (again) on the same port, e.g. after `stop_http()` simulated an outage."""
        async def run() -> None:
            assert self._runner is not None
            if self._site is not None:
                return
            self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
            await self._site.start()
        self._call(run())

    def stop_http(self) -> None:
        """Stop answering HTTP (connections are refused) while the database keeps its data."""
        async def run() -> None:
            if self._site is not None:
                await self._site.stop()
                self._site = None
            # Closing the listener leaves keep-alive connections open; an outage drops them too.
            assert self._runner is not None and self._runner.server is not None
            for handler in list(self._runner.server.connections):
                handler.force_close()
        self._call(run())

    def close(self) -> None:
        async def run() -> None:
            if self._runner is not None:
                await self._runner.cleanup()
            await self.admin_pool.close()
            await self.api_pool.close()
        self._call(run())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
        shutil.rmtree(self._blob_dir, ignore_errors=True)

    def reset_auth(self) -> None:
        """Auth settings back to a new hosted project's (tests change them one by one)."""
        AuthApi.reset_settings(self)

    # Admin helpers for tests: what a developer would do in the Supabase dashboard.

    def confirm_user(self, email: str) -> None:
        """What clicking the link in the confirmation email does."""
        self.sql("update auth.users set email_confirmed_at = now() where email = %s", email)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run SQL as the superuser (bypassing RLS), to look at what really got stored."""
        with psycopg.connect(self.cluster.conninfo(), autocommit=True) as conn:
            cur = conn.execute(query, params or None)
            return cur.fetchall() if cur.description else []
