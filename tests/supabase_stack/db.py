"""Database access for the local stack: a tiny connection pool and 'run as the JWT's role'."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import sql

API_ROLES = frozenset({"anon", "authenticated", "service_role"})


class Pool:
    """Idle connections per login role; a request takes one and gives it back."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._idle: list[psycopg.AsyncConnection] = []

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        conn = self._idle.pop() if self._idle else await psycopg.AsyncConnection.connect(
            self._conninfo
        )
        try:
            yield conn
        finally:
            if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                await conn.close()
            else:
                self._idle.append(conn)

    async def close(self) -> None:
        while self._idle:
            await self._idle.pop().close()


@asynccontextmanager
async def as_jwt_role(pool: Pool, claims: dict[str, Any]) -> AsyncIterator[psycopg.AsyncConnection]:
    """A transaction under the JWT's role and claims, exactly as PostgREST opens one.

    `SET LOCAL` and `set_config(..., true)` end with the transaction, so a pooled connection
    goes back as plain `authenticator`.
    """
    role = claims.get("role")
    if role not in API_ROLES:
        raise PermissionError(f"role {role!r} is not an API role")
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
        await conn.execute(
            "select set_config('request.jwt.claims', %s, true)", [json.dumps(claims)]
        )
        yield conn
