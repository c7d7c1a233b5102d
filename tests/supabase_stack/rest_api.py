"""The PostgREST (/rest/v1) subset supabase-py's table builder sends, run under the JWT's role.

Every request is one transaction as `authenticator` with `SET LOCAL ROLE <jwt role>` and
`request.jwt.claims` set, so the migration's grants and RLS policies decide, not this file.
Supported: select (plain columns or *), filters eq/neq/gt/gte/lt/lte/like/ilike/is/in (+ not.)
and the or=/and= logic trees (rest_filters.py), order, limit/offset, insert, upsert
(on_conflict, merge/ignore duplicates), update, delete, Prefer return=/count=exact, and the
single-object Accept type. Anything else is a 400 naming it.

Two limits of a hosted project are modelled, each a switch on the stack:
- `max_rows`, PostgREST's db-max-rows (1000 on Supabase): a read never returns more rows than
  that, whatever `limit` asks for (PostgREST Plan.hs treeRestrictRange; writes are not capped).
- `safeupdate`: Supabase loads pg-safeupdate for `authenticator` (supabase/postgres
  20220118070449), so an UPDATE or DELETE without any filter fails with 21000 "UPDATE requires
  a WHERE clause" before it touches a row.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import psycopg
from aiohttp import web
from psycopg import sql

from .db import as_jwt_role
from .rest_filters import LOGIC_KEYS, BadRequest, column_filter, ident, logic_filter
from .tokens import JwtRejected, bearer, verify

if TYPE_CHECKING:
    from .server import SupabaseStack

_RESERVED = {"select", "order", "limit", "offset", "on_conflict", "columns"}
_SINGLE = "application/vnd.pgrst.object+json"
_T = sql.Identifier("_t")
_ident = ident


def _col(name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(_T, _ident(name))


def _error(status: int, code: str, message: str, details: str | None = None,
           hint: str | None = None) -> web.Response:
    return web.json_response({"code": code, "message": message, "details": details,
                              "hint": hint}, status=status)


def _pg_status(exc: psycopg.Error, role: str) -> int:
    state = exc.sqlstate or ""
    if state == "42501":
        return 401 if role == "anon" else 403
    if state in {"23505", "23503"}:
        return 409
    if state == "42P01":
        return 404
    return 400 if state[:2] in {"22", "23", "42", "P0"} else 500


def _prefer(request: web.Request) -> dict[str, str]:
    prefs: dict[str, str] = {}
    for header in request.headers.getall("Prefer", []):
        for part in header.split(","):
            key, _, value = part.strip().partition("=")
            if key:
                prefs[key] = value
    return prefs


def _where(query: Any) -> sql.Composable:
    clauses: list[sql.Composable] = []
    for key, raw in query.items():
        if key in _RESERVED:
            continue
        clauses.append(logic_filter(key, raw) if key in LOGIC_KEYS else column_filter(key, raw))
    return sql.SQL(" where ") + sql.SQL(" and ").join(clauses) if clauses else sql.SQL("")


def _order(query: Any) -> sql.Composable:
    spec = query.get("order")
    if not spec:
        return sql.SQL("")
    terms: list[sql.Composable] = []
    for term in spec.split(","):
        parts = term.strip().split(".")
        pieces: list[sql.Composable] = [_col(parts[0])]
        for modifier in parts[1:]:
            words = {"asc": "asc", "desc": "desc", "nullsfirst": "nulls first",
                     "nullslast": "nulls last"}.get(modifier)
            if words is None:
                raise BadRequest(f"unsupported order modifier {modifier!r}")
            pieces.append(sql.SQL(words))
        terms.append(sql.SQL(" ").join(pieces))
    return sql.SQL(" order by ") + sql.SQL(", ").join(terms)


def _page(query: Any, max_rows: int | None) -> sql.Composable:
    """limit/offset, the limit capped at db-max-rows as PostgREST caps every read."""
    values: dict[str, int] = {}
    for key in ("limit", "offset"):
        if key in query:
            try:
                values[key] = int(query[key])
            except ValueError as exc:
                raise BadRequest(f"{key} must be an integer") from exc
    if max_rows is not None:
        values["limit"] = min(values.get("limit", max_rows), max_rows)
    return sql.Composed([sql.SQL(f" {key} ") + sql.Literal(values[key])
                         for key in ("limit", "offset") if key in values])


def _returning(query: Any) -> sql.Composable:
    select = query.get("select", "*")
    if select.strip() == "*":
        return sql.SQL("{}.*").format(_T)
    return sql.SQL(", ").join(_col(c) for c in select.split(","))


class RestApi:
    def __init__(self, stack: SupabaseStack) -> None:
        self.stack = stack

    def routes(self) -> list[web.RouteDef]:
        return [web.route("*", "/rest/v1/{table}", self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        token = bearer(request.headers)
        try:
            claims = verify(token or "", self.stack.jwt_secret)
        except JwtRejected as exc:
            code = "PGRST303" if exc.expired else "PGRST301"
            return _error(401, code, str(exc))
        schema = (request.headers.get("Accept-Profile") or request.headers.get("Content-Profile")
                  or "public")
        role = str(claims.get("role"))
        try:
            table = sql.SQL("{}.{}").format(_ident(schema), _ident(request.match_info["table"]))
            body = await self._body(request)
            async with as_jwt_role(self.stack.api_pool, claims) as conn:
                return await self._dispatch(request, conn, table, body)
        except BadRequest as exc:
            return _error(exc.status, exc.code, str(exc))
        except PermissionError as exc:
            return _error(401, "PGRST301", str(exc))
        except psycopg.Error as exc:
            diag = exc.diag
            return _error(_pg_status(exc, role), exc.sqlstate or "XX000",
                          diag.message_primary or str(exc), diag.message_detail,
                          diag.message_hint)

    async def _body(self, request: web.Request) -> Any:
        if request.method not in {"POST", "PATCH"}:
            return None
        try:
            return await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequest("request body is not JSON", code="PGRST102") from exc

    async def _dispatch(self, request: web.Request, conn: psycopg.AsyncConnection,
                        table: sql.Composable, body: Any) -> web.Response:
        query = request.query
        prefer = _prefer(request)
        representation = prefer.get("return") == "representation"
        if request.method in {"GET", "HEAD"}:
            stmt = sql.SQL("select {} from {} as _t{}{}{}").format(
                _returning(query), table, _where(query), _order(query),
                _page(query, self.stack.max_rows))
            rows = await self._rows(conn, stmt)
            total = None
            if prefer.get("count") == "exact":
                cur = await conn.execute(sql.SQL("select count(*) from {} as _t{}").format(
                    table, _where(query)))
                total = (await cur.fetchone())[0]
            return self._respond(request, rows, 200, total, head=request.method == "HEAD")
        if request.method == "POST":
            stmt = await self._insert(conn, query, prefer, table, body)
            return self._respond(request, await self._run(conn, stmt, representation, query),
                                 201, None)
        if request.method in {"PATCH", "DELETE"} and self.stack.safeupdate and not any(
                key not in _RESERVED for key in query):
            verb = "UPDATE" if request.method == "PATCH" else "DELETE"
            raise BadRequest(f"{verb} requires a WHERE clause", code="21000")
        if request.method == "PATCH":
            if not isinstance(body, dict) or not body:
                raise BadRequest("PATCH needs a JSON object body")
            sets = sql.SQL(", ").join(
                sql.SQL("{} = _r.{}").format(_ident(k), _ident(k)) for k in body)
            stmt = sql.SQL(
                "update {} as _t set {} from (select * from json_populate_record(null::{}, {}))"
                " as _r{}"
            ).format(table, sets, table, sql.Literal(json.dumps(body)), _where(query))
            return self._respond(request, await self._run(conn, stmt, representation, query),
                                 200, None)
        if request.method == "DELETE":
            stmt = sql.SQL("delete from {} as _t{}").format(table, _where(query))
            return self._respond(request, await self._run(conn, stmt, representation, query),
                                 200, None)
        raise BadRequest(f"method {request.method} not supported", status=405)

    async def _insert(self, conn: psycopg.AsyncConnection, query: Any, prefer: dict[str, str],
                      table: sql.Composable, body: Any) -> sql.Composable:
        rows = body if isinstance(body, list) else [body]
        if not rows or not all(isinstance(r, dict) for r in rows):
            raise BadRequest("insert needs a JSON object or a list of objects")
        if "columns" in query:
            names = [c.strip().strip('"') for c in query["columns"].split(",")]
        else:
            names = list(dict.fromkeys(k for r in rows for k in r))
        cols = sql.SQL(", ").join(_ident(n) for n in names)
        stmt = sql.SQL(
            "insert into {} as _t ({}) select {} from json_populate_recordset(null::{}, {})"
        ).format(table, cols, cols, table, sql.Literal(json.dumps(rows)))
        resolution = prefer.get("resolution")
        if resolution:
            conflict = query.get("on_conflict") or ",".join(await self._primary_key(conn, table))
            target = sql.SQL(", ").join(_ident(c) for c in conflict.split(","))
            if resolution == "ignore-duplicates":
                stmt += sql.SQL(" on conflict ({}) do nothing").format(target)
            else:
                sets = sql.SQL(", ").join(
                    sql.SQL("{} = excluded.{}").format(_ident(n), _ident(n)) for n in names)
                stmt += sql.SQL(" on conflict ({}) do update set {}").format(target, sets)
        return stmt

    async def _primary_key(self, conn: psycopg.AsyncConnection, table: sql.Composable
                           ) -> list[str]:
        cur = await conn.execute(sql.SQL(
            "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid"
            " and a.attnum = any(i.indkey) where i.indrelid = {}::regclass and i.indisprimary"
        ).format(sql.Literal(table.as_string(conn))))
        return [r[0] for r in await cur.fetchall()]

    async def _run(self, conn: psycopg.AsyncConnection, stmt: sql.Composable,
                   representation: bool, query: Any) -> list[Any] | None:
        """Run a write. Like PostgREST, only return=representation adds RETURNING, which makes
        PostgreSQL apply the SELECT policies to the written rows as well."""
        if not representation:
            await conn.execute(stmt)
            return None
        return await self._rows(conn, stmt + sql.SQL(" returning {}").format(_returning(query)))

    async def _rows(self, conn: psycopg.AsyncConnection, stmt: sql.Composable) -> list[Any]:
        wrapped = sql.SQL(
            "with _q as ({}) select coalesce(json_agg(_q), '[]'::json) from _q").format(stmt)
        cur = await conn.execute(wrapped)
        return (await cur.fetchone())[0]

    def _respond(self, request: web.Request, rows: list[Any] | None, status: int,
                 total: int | None, head: bool = False) -> web.Response:
        count = len(rows or [])
        span = f"0-{count - 1}" if count else "*"
        offset = int(request.query.get("offset", 0) or 0)
        if count:
            span = f"{offset}-{offset + count - 1}"
        headers = {"Content-Range": f"{span}/{total if total is not None else '*'}"}
        if rows is None:
            return web.Response(status=204 if status != 201 else 201, headers=headers)
        if _SINGLE in request.headers.get("Accept", ""):
            if count != 1:
                return _error(406, "PGRST116",
                              "JSON object requested, multiple (or no) rows returned",
                              f"The result contains {count} rows")
            return web.json_response(rows[0], status=status, headers=headers)
        if head:
            return web.Response(status=status, headers=headers)
        return web.json_response(rows, status=status, headers=headers)
