"""pytest fixtures for the local Supabase stack. Import them into a test module or conftest:

    from tests.supabase_stack.fixtures import (  # noqa: F401
        pg_cluster, supabase_stack, supabase_stack_session)

Importing fixtures into several modules makes pytest treat each copy as its own session fixture,
so the cluster and the server are shared through a reference count: one of each per process,
torn down when the last user finishes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .pg import PgCluster
from .server import DEFAULT_MAX_ROWS, SupabaseStack, apply_schema
from .storage_api import FREE_PLAN_UPLOAD_LIMIT

_shared: dict[str, Any] = {"cluster": None, "cluster_users": 0, "stack": None, "stack_users": 0}


def _acquire_cluster() -> PgCluster:
    if _shared["cluster"] is None:
        cluster = PgCluster.create()
        try:
            cluster.start()
            apply_schema(cluster)
        except BaseException:
            cluster.destroy()
            raise
        _shared["cluster"] = cluster
    _shared["cluster_users"] += 1
    return _shared["cluster"]


def _release_cluster() -> None:
    _shared["cluster_users"] -= 1
    if _shared["cluster_users"] == 0:
        _shared["cluster"].destroy()
        _shared["cluster"] = None


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A fresh PostgreSQL with Supabase's roles/auth/storage and our migrations (~1 s)."""
    cluster = _acquire_cluster()
    try:
        yield cluster
    finally:
        _release_cluster()


@pytest.fixture(scope="session")
def supabase_stack_session(pg_cluster: PgCluster) -> Iterator[SupabaseStack]:
    if _shared["stack"] is None:
        blobs = Path(tempfile.mkdtemp(prefix="automata-storage-"))
        _shared["stack"] = SupabaseStack.start(pg_cluster, blobs)
    _shared["stack_users"] += 1
    try:
        yield _shared["stack"]
    finally:
        _shared["stack_users"] -= 1
        if _shared["stack_users"] == 0:
            _shared["stack"].close()
            _shared["stack"] = None


@pytest.fixture
def supabase_stack(supabase_stack_session: SupabaseStack) -> Iterator[SupabaseStack]:
    """The session's stack, with its switches reset and serving, for one test."""
    stack = supabase_stack_session
    stack.reset_auth()
    stack.jwt_expiry = 3600
    stack.max_rows = DEFAULT_MAX_ROWS
    stack.safeupdate = True
    stack.uploads.clear()
    stack.upload_limit = FREE_PLAN_UPLOAD_LIMIT
    stack.tus_cut_at = None
    stack.tus_patches.clear()
    stack.faults.reset()
    yield stack
    stack.start_http()  # a test may have simulated an outage
