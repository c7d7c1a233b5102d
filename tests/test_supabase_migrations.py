"""The migrations in resources/supabase as a real project runs them, and the grants they give.

A real project applies them with `supabase db push`: as `postgres`, which is no superuser and
does not own the auth and storage schemas, one transaction per file. Since 2026-10-30 nothing
in `public` is granted to the API roles unless a migration says so. The stand-in models both,
so a statement a real project refuses, or a missing grant, fails here first.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from postgrest.exceptions import APIError

from tests.supabase_stack.devices import Device, make_generation, unique_email
from tests.supabase_stack.fixtures import pg_cluster, supabase_stack, supabase_stack_session  # noqa: F401
from tests.supabase_stack.pg import PgCluster
from tests.supabase_stack.server import (
    MigrationRefused,
    SupabaseStack,
    apply_schema,
    project_migrations,
    push_migrations,
)

SYNC_MIGRATION, GRANTS_MIGRATION = project_migrations()


@pytest.fixture
def bare_project() -> Iterator[PgCluster]:
    """A fresh project before any of our migrations ran (its own cluster, ~1 s)."""
    cluster = PgCluster.create()
    try:
        cluster.start()
        apply_schema(cluster, migrations=[])
        yield cluster
    finally:
        cluster.destroy()


def query(cluster: PgCluster, text: str, *params: object) -> list[tuple]:
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        return conn.execute(text, params or None).fetchall()


def migration(folder: Path, body: str, version: str = "20990101000000") -> Path:
    path = folder / f"{version}_probe.sql"
    path.write_text(body)
    return path


def test_our_migrations_apply_as_postgres_the_way_db_push_applies_them(bare_project):
    assert query(bare_project, "select rolsuper from pg_roles where rolname = 'postgres'") == [
        (False,)]

    applied = push_migrations(bare_project, project_migrations())

    assert applied == [SYNC_MIGRATION.name[:14], GRANTS_MIGRATION.name[:14]]
    assert push_migrations(bare_project, project_migrations()) == []  # already applied
    assert query(bare_project, "select tableowner from pg_tables where tablename = "
                               "'generations'") == [("postgres",)]
    assert query(bare_project, "select count(*) from pg_policies where schemaname = 'storage'"
                 ) == [(4,)]


@pytest.mark.parametrize("statement", [
    "alter table storage.objects enable row level security",
    "comment on table storage.objects is 'textures'",
    "create index on storage.objects (name)",
    "create table storage.thumbnails (id uuid primary key)",
    "drop function storage.filename(text)",
    "alter table auth.users add column nickname text",
])
def test_a_statement_a_real_project_refuses_fails_its_whole_file(bare_project, tmp_path,
                                                                 statement):
    probe = migration(tmp_path, f"create table public.probe (id int);\n{statement};\n")

    with pytest.raises(MigrationRefused,
                       match=r"\(42501\): (must be owner of|permission denied for schema) "):
        push_migrations(bare_project, [probe])

    assert query(bare_project, "select to_regclass('public.probe')") == [(None,)]
    assert query(bare_project, "select version from supabase_migrations.schema_migrations") == []


def test_policies_triggers_and_buckets_in_storage_are_what_a_migration_may_add(bare_project,
                                                                              tmp_path):
    probe = migration(tmp_path, """
        insert into storage.buckets (id, name, public) values ('probe', 'probe', false);
        create policy "probe: read" on storage.objects for select to authenticated
            using (bucket_id = 'probe');
        alter policy "probe: read" on storage.objects using (bucket_id = 'probe' and false);
        drop policy "probe: read" on storage.objects;
        create function public.probe_touch() returns trigger language plpgsql
            as $$ begin return new; end $$;
        create trigger probe_touch before insert on storage.objects
            for each row execute function public.probe_touch();
    """)

    assert push_migrations(bare_project, [probe]) == ["20990101000000"]


def test_the_app_holds_exactly_the_privileges_it_uses(supabase_stack):  # noqa: F811
    def table_privileges(role: str) -> set[str]:
        kinds = ("select", "insert", "update", "delete", "truncate", "references", "trigger")
        return {k for k in kinds if supabase_stack.sql(
            "select has_table_privilege(%s, 'public.generations', %s)", role, k)[0][0]}

    assert table_privileges("authenticated") == {"select", "insert", "update"}
    assert table_privileges("anon") == set()
    for role in ("anon", "authenticated"):
        assert supabase_stack.sql(
            "select has_function_privilege(%s, 'public.automata_touch_updated_at()', "
            "'execute')", role) == [(False,)]


def test_without_the_grants_migration_every_push_is_refused_until_it_is_applied(tmp_path):
    cluster = PgCluster.create()
    stack = device = None
    try:
        cluster.start()
        apply_schema(cluster, migrations=[SYNC_MIGRATION])  # a project as the first release left it
        stack = SupabaseStack.start(cluster, Path(tempfile.mkdtemp(prefix="automata-storage-")))
        device = Device(stack, tmp_path / "laptop")
        device.user_id = device.sign_up(unique_email("artist"))
        gen = device.library.add(make_generation(tmp_path / "lib"))
        device.outbox.enqueue(gen.id)

        report = device.worker().run_pending()
        assert gen.id in report.failed and report.pushed == []
        with pytest.raises(APIError) as caught:
            device.auth.client.table("generations").select("id").execute()
        assert caught.value.code == "42501"
        assert "permission denied for table generations" in caught.value.message

        assert push_migrations(cluster, project_migrations()) == [GRANTS_MIGRATION.name[:14]]
        device.outbox.retry_now()
        assert device.worker().run_pending().pushed == [gen.id]
        assert stack.sql("select user_id::text from generations where id = %s", gen.id) == [
            (device.user_id,)]
    finally:
        if device is not None:
            device.close()
        if stack is not None:
            stack.close()
        cluster.destroy()
