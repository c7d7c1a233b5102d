"""The Storage (/storage/v1) subset supabase-py's bucket API uses: upload (x-upsert), update,
download, info, list and remove.

Object rows live in `storage.objects` and are read and written under the JWT's role, so the
migration's RLS policies decide who may do what; the bytes live in a folder beside the cluster.
Error bodies follow storage-api: `{"statusCode": "404", "error": "not_found", "message": ...}`.
An upload over `stack.upload_limit` (the free plan's 50 MB unless a test changes it) is refused
as storage-api refuses it: HTTP 400 (storage-api answers every error it renders with 400 or 500)
whose body carries `"statusCode": "413"`. Resumable (TUS) uploads are in tus_api.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from aiohttp import web
from psycopg.rows import dict_row

from .db import as_jwt_role
from .tokens import JwtRejected, bearer, verify

if TYPE_CHECKING:
    from .server import SupabaseStack


class StorageFailure(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.http_status = status

    def response(self) -> web.Response:
        return web.json_response({"statusCode": str(self.status), "error": self.error,
                                  "message": self.message}, status=self.http_status)


#: Supabase's free plan: no object over 50 MB (storage-api's default `uploadFileSizeLimit`).
FREE_PLAN_UPLOAD_LIMIT = 50 * 1024 * 1024


def too_large() -> StorageFailure:
    """storage-api's EntityTooLarge as its standard upload renders it (status 400, body 413)."""
    failure = StorageFailure(413, "Payload too large", "The object exceeded the maximum allowed size")
    failure.http_status = 400
    return failure


def _not_found() -> StorageFailure:
    return StorageFailure(404, "not_found", "Object not found")


def object_key(bucket: str, name: str) -> str:
    parts = name.split("/")
    if not name or any(p in {"", ".", ".."} for p in parts):
        raise StorageFailure(400, "InvalidKey", f"Invalid key: {name}")
    return f"{bucket}/{name}"


class StorageApi:
    def __init__(self, stack: SupabaseStack, blob_dir: Path) -> None:
        self.stack = stack
        self.blob_dir = blob_dir

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/storage/v1/object/list/{bucket}", self.list_objects),
            web.get("/storage/v1/object/info/{bucket}/{name:.+}", self.info),
            web.get("/storage/v1/object/info/authenticated/{bucket}/{name:.+}", self.info),
            web.post("/storage/v1/object/{bucket}/{name:.+}", self.upload),
            web.put("/storage/v1/object/{bucket}/{name:.+}", self.upload),
            web.get("/storage/v1/object/authenticated/{bucket}/{name:.+}", self.download),
            web.get("/storage/v1/object/{bucket}/{name:.+}", self.download),
            web.delete("/storage/v1/object/{bucket}", self.remove),
        ]

    def claims(self, request: web.Request) -> dict[str, Any]:
        try:
            return verify(bearer(request.headers) or "", self.stack.jwt_secret)
        except JwtRejected as exc:
            raise StorageFailure(403 if not exc.expired else 400, "Unauthorized",
                                 "jwt expired" if exc.expired else "invalid signature") from exc

    async def bucket_exists(self, bucket: str) -> bool:
        # storage-api looks buckets up as superuser; RLS applies to the objects.
        async with self.stack.admin_pool.connection() as conn:
            cur = await conn.execute("select 1 from storage.buckets where id = %s", [bucket])
            found = await cur.fetchone() is not None
            await conn.rollback()
            return found

    def blob(self, bucket: str, name: str) -> Path:
        return self.blob_dir / hashlib.sha256(object_key(bucket, name).encode()).hexdigest()

    async def _guarded(self, request: web.Request, handler: Any) -> web.Response:
        try:
            claims = self.claims(request)
            bucket = request.match_info["bucket"]
            if not await self.bucket_exists(bucket):
                raise StorageFailure(404, "Bucket not found", "Bucket not found")
            return await handler(request, claims, bucket)
        except StorageFailure as exc:
            return exc.response()
        except psycopg.Error as exc:
            return database_failure(exc).response()

    async def upload(self, request: web.Request) -> web.Response:
        return await self._guarded(request, self._upload)

    async def _upload(self, request: web.Request, claims: dict[str, Any], bucket: str
                      ) -> web.Response:
        name = request.match_info["name"]
        key = object_key(bucket, name)
        content_type = request.headers.get("Content-Type", "application/octet-stream")
        user_metadata: Any = None
        cache_control = "no-cache"
        limit = self.stack.upload_limit
        # storage-api stops reading once the stream passes the limit; a declared length far
        # over it (a multipart envelope is a few hundred bytes) is refused before reading.
        if limit is not None and (request.content_length or 0) > limit + 64 * 1024:
            raise too_large()
        if content_type.startswith("multipart/form-data"):
            form = await request.post()
            part = form.get("file")
            if part is None or not hasattr(part, "file"):
                raise StorageFailure(400, "InvalidRequest", "No file in the form")
            data = part.file.read()
            content_type = part.content_type or "application/octet-stream"
            cache_control = f"max-age={form.get('cacheControl', '3600')}"
            if form.get("metadata"):
                user_metadata = json.loads(str(form["metadata"]))
        else:
            data = await request.read()
        if limit is not None and len(data) > limit:
            raise too_large()
        upsert = request.method == "PUT" or request.headers.get("x-upsert") == "true"
        mode = "update" if request.method == "PUT" else "upsert" if upsert else "insert"
        object_id = await self.write_object(claims, bucket, name, mode=mode, size=len(data),
                                            etag=hashlib.md5(data).hexdigest(),
                                            content_type=content_type,
                                            cache_control=cache_control,
                                            user_metadata=user_metadata,
                                            commit_bytes=lambda blob: _write_bytes(blob, data))
        self.stack.uploads.append(key)
        return web.json_response({"Key": key, "Id": object_id})

    async def write_object(self, claims: dict[str, Any], bucket: str, name: str, *, mode: str,
                           size: int, etag: str, content_type: str, cache_control: str,
                           user_metadata: Any, commit_bytes: Any) -> str:
        """The `storage.objects` row under the JWT's role (RLS decides), then the bytes.

        `mode`: "insert", "upsert" or "update". `commit_bytes(blob_path)` puts the bytes in
        place; it runs before the row commits, so a failed write rolls the row back.
        """
        now = datetime.now(UTC)
        metadata = {"eTag": f'"{etag}"', "size": size, "mimetype": content_type,
                    "cacheControl": cache_control, "lastModified": now.isoformat(),
                    "contentLength": size, "httpStatusCode": 200}
        version = str(uuid.uuid4())
        owner = claims.get("sub")
        values = [bucket, name, owner, owner, json.dumps(metadata), json.dumps(user_metadata),
                  version]
        async with as_jwt_role(self.stack.api_pool, claims) as conn:
            if mode == "update":
                cur = await conn.execute(
                    "update storage.objects set metadata = %s, user_metadata = %s, version = %s,"
                    " updated_at = now() where bucket_id = %s and name = %s returning id",
                    [values[4], values[5], version, bucket, name])
            elif mode == "upsert":
                cur = await conn.execute(
                    "insert into storage.objects (bucket_id, name, owner, owner_id, metadata,"
                    " user_metadata, version) values (%s, %s, %s, %s, %s, %s, %s)"
                    " on conflict (bucket_id, name) do update set metadata = excluded.metadata,"
                    " user_metadata = excluded.user_metadata, version = excluded.version,"
                    " owner = excluded.owner, owner_id = excluded.owner_id, updated_at = now()"
                    " returning id", values)
            else:
                cur = await conn.execute(
                    "insert into storage.objects (bucket_id, name, owner, owner_id, metadata,"
                    " user_metadata, version) values (%s, %s, %s, %s, %s, %s, %s) returning id",
                    values)
            row = await cur.fetchone()
            if row is None:
                raise _not_found()
            commit_bytes(self.blob(bucket, name))
        return str(row[0])

    async def check_can_upload(self, claims: dict[str, Any], bucket: str, name: str, *,
                               upsert: bool) -> None:
        """What storage-api's `canUpload` does before a resumable upload starts: try the
        object's insert (or upsert) under the JWT's role and roll it back, so RLS refuses it
        now rather than after the last byte."""
        owner = claims.get("sub")
        async with as_jwt_role(self.stack.api_pool, claims) as conn:
            conflict = (" on conflict (bucket_id, name) do update set version = excluded.version"
                        if upsert else "")
            await conn.execute(
                "insert into storage.objects (bucket_id, name, owner, owner_id, version)"
                f" values (%s, %s, %s, %s, %s){conflict}",
                [bucket, name, owner, owner, str(uuid.uuid4())])
            raise psycopg.Rollback()  # only the permission was in question


    async def _find(self, claims: dict[str, Any], bucket: str, name: str) -> dict[str, Any]:
        async with as_jwt_role(self.stack.api_pool, claims) as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "select id, name, bucket_id, version, metadata, user_metadata, created_at,"
                " updated_at from storage.objects where bucket_id = %s and name = %s",
                [bucket, name])
            row = await cur.fetchone()
        if row is None:
            raise _not_found()
        return row

    async def download(self, request: web.Request) -> web.Response:
        async def run(request: web.Request, claims: dict[str, Any], bucket: str) -> web.Response:
            name = request.match_info["name"]
            row = await self._find(claims, bucket, name)
            blob = self.blob(bucket, name)
            if not blob.exists():
                raise _not_found()
            meta = row["metadata"] or {}
            return web.Response(body=blob.read_bytes(),
                                content_type=meta.get("mimetype", "application/octet-stream"),
                                headers={"ETag": meta.get("eTag", "")})
        return await self._guarded(request, run)

    async def info(self, request: web.Request) -> web.Response:
        async def run(request: web.Request, claims: dict[str, Any], bucket: str) -> web.Response:
            row = await self._find(claims, bucket, request.match_info["name"])
            meta = row["metadata"] or {}
            return web.json_response({
                "id": str(row["id"]), "name": row["name"], "version": row["version"],
                "bucket_id": row["bucket_id"], "size": meta.get("size"),
                "content_type": meta.get("mimetype"), "cache_control": meta.get("cacheControl"),
                "etag": meta.get("eTag"), "metadata": row["user_metadata"],
                "last_modified": row["updated_at"].isoformat(),
                "created_at": row["created_at"].isoformat(),
            })
        return await self._guarded(request, run)

    async def list_objects(self, request: web.Request) -> web.Response:
        async def run(request: web.Request, claims: dict[str, Any], bucket: str) -> web.Response:
            body = await request.json()
            prefix = str(body.get("prefix") or "").strip("/")
            prefix = f"{prefix}/" if prefix else ""
            limit = int(body.get("limit", 100))
            offset = int(body.get("offset", 0))
            search = str(body.get("search") or "")
            async with as_jwt_role(self.stack.api_pool, claims) as conn:
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(
                    "select id, name, created_at, updated_at, last_accessed_at, metadata"
                    " from storage.objects where bucket_id = %s and starts_with(name, %s)"
                    " order by name", [bucket, prefix])
                rows = await cur.fetchall()
            entries: dict[str, dict[str, Any]] = {}
            for row in rows:
                rest = row["name"][len(prefix):]
                head, slash, _ = rest.partition("/")
                if search and search.lower() not in head.lower():
                    continue
                if slash:
                    entries.setdefault(head, {"name": head, "id": None, "updated_at": None,
                                              "created_at": None, "last_accessed_at": None,
                                              "metadata": None})
                else:
                    entries[head] = {
                        "name": head, "id": str(row["id"]),
                        "updated_at": row["updated_at"].isoformat(),
                        "created_at": row["created_at"].isoformat(),
                        "last_accessed_at": row["last_accessed_at"].isoformat(),
                        "metadata": row["metadata"]}
            sort = body.get("sortBy") or {}
            listed = sorted(entries.values(), key=lambda e: e["name"],
                            reverse=sort.get("order") == "desc")
            return web.json_response(listed[offset:offset + limit])
        return await self._guarded(request, run)

    async def remove(self, request: web.Request) -> web.Response:
        async def run(request: web.Request, claims: dict[str, Any], bucket: str) -> web.Response:
            body = await request.json()
            names = [str(p) for p in body.get("prefixes") or []]
            async with as_jwt_role(self.stack.api_pool, claims) as conn:
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(
                    "delete from storage.objects where bucket_id = %s and name = any(%s)"
                    " returning id, name, bucket_id, metadata, created_at, updated_at",
                    [bucket, names])
                rows = await cur.fetchall()
            for row in rows:
                self.blob(bucket, row["name"]).unlink(missing_ok=True)
            return web.json_response([
                {**row, "id": str(row["id"]), "created_at": row["created_at"].isoformat(),
                 "updated_at": row["updated_at"].isoformat()} for row in rows])
        return await self._guarded(request, run)


def database_failure(exc: psycopg.Error) -> StorageFailure:
    """How storage-api reports what PostgreSQL refused (RLS, a duplicate key, ...)."""
    if exc.sqlstate == "42501":
        return StorageFailure(403, "Unauthorized", exc.diag.message_primary or str(exc))
    if exc.sqlstate == "23505":
        return StorageFailure(409, "Duplicate", "The resource already exists")
    return StorageFailure(500, "DatabaseError", str(exc))


def _write_bytes(blob: Path, data: bytes) -> None:
    tmp = blob.with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, blob)
