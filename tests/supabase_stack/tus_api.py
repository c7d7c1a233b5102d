"""Storage's resumable uploads: TUS 1.0.0 at /storage/v1/upload/resumable, as storage-api
serves it (supabase/storage `src/http/routes/tus`, on @tus/server).

- POST creates an upload from `Upload-Length` and `Upload-Metadata` (base64 `bucketName`,
  `objectName`, `contentType`, `cacheControl` and `metadata`, the user metadata as JSON) and
  answers 201 with a `Location` whose last segment is base64url("bucket/object/version").
  A length over `stack.upload_limit` is refused with tus' own 413 "Maximum size exceeded".
  Creating (and every PATCH) first tries the object's insert under the JWT's role and rolls it
  back (storage-api's `canUpload`), so RLS refuses before any byte is stored.
- PATCH appends at `Upload-Offset` (409 if that is not where the upload stands) and answers 204
  with the new offset. Supabase requires 6 MB chunks: every PATCH but the one that completes
  the upload must carry exactly CHUNK_SIZE bytes. What arrives before a dropped connection is
  kept, as the real store keeps it, so a client resumes from HEAD's offset.
- HEAD answers the offset and length (`Cache-Control: no-store`).
- The last byte writes the `storage.objects` row (upsert with `x-upsert: true`) with the user
  metadata, so `info()` shows the sha256 the client sent.

Test switches on the stack: `tus_cut_at` (drop the connection of the PATCH that would carry an
upload past that offset, once the bytes before it arrived; one-shot) and `tus_patches` (offset
and byte count of every PATCH received).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from aiohttp import web

from .storage_api import StorageApi, StorageFailure, database_failure, object_key

if TYPE_CHECKING:
    from .server import SupabaseStack

PATH = "/storage/v1/upload/resumable"
CHUNK_SIZE = 6 * 1024 * 1024
_TUS_HEADERS = {"Tus-Resumable": "1.0.0"}


@dataclass
class _Upload:
    bucket: str
    name: str
    length: int
    content_type: str
    cache_control: str
    user_metadata: Any
    upsert: bool
    part: Path
    offset: int = 0


def _tus_error(status: int, body: str) -> web.Response:
    # @tus/server writes its protocol errors as plain text.
    return web.Response(status=status, text=body, headers=_TUS_HEADERS)


def _metadata(header: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _, encoded = pair.partition(" ")
        try:
            values[key] = base64.b64decode(encoded, validate=True).decode() if encoded else ""
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise StorageFailure(400, "InvalidRequest", "Upload-Metadata is invalid") from exc
    return values


class TusApi:
    def __init__(self, stack: SupabaseStack, storage: StorageApi) -> None:
        self.stack = stack
        self.storage = storage
        self.parts = storage.blob_dir / "tus"
        self.uploads: dict[str, _Upload] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(PATH, self.create),
            web.post(PATH + "/", self.create),
            web.head(PATH + "/{upload_id}", self.head),
            web.patch(PATH + "/{upload_id}", self.patch),
        ]

    def _find(self, request: web.Request) -> _Upload | None:
        return self.uploads.get(request.match_info["upload_id"])

    async def create(self, request: web.Request) -> web.Response:
        if request.headers.get("Tus-Resumable") != "1.0.0":
            return _tus_error(412, "Unsupported version\n")
        try:
            length = int(request.headers["Upload-Length"])
        except (KeyError, ValueError):
            return _tus_error(400, "Upload-Length or Upload-Defer-Length header required\n")
        try:
            claims = self.storage.claims(request)
            meta = _metadata(request.headers.get("Upload-Metadata", ""))
            bucket, name = meta.get("bucketName", ""), meta.get("objectName", "")
            if not bucket or not name:
                raise StorageFailure(400, "InvalidRequest", "Metadata header is required")
            object_key(bucket, name)  # refuses an invalid key
            limit = self.stack.upload_limit
            if limit is not None and length > limit:
                return _tus_error(413, "Maximum size exceeded\n")
            if not await self.storage.bucket_exists(bucket):
                raise StorageFailure(404, "Bucket not found", "Bucket not found")
            upsert = request.headers.get("x-upsert") == "true"
            await self.storage.check_can_upload(claims, bucket, name, upsert=upsert)
            cache = meta.get("cacheControl", "")
            user_metadata = json.loads(meta["metadata"]) if meta.get("metadata") else None
        except StorageFailure as exc:
            return exc.response()
        except psycopg.Error as exc:
            return database_failure(exc).response()
        except ValueError:
            return _tus_error(400, "metadata is not JSON\n")
        upload_id = base64.urlsafe_b64encode(
            f"{bucket}/{name}/{uuid.uuid4()}".encode()).decode().rstrip("=")
        self.parts.mkdir(parents=True, exist_ok=True)
        part = self.parts / hashlib.sha256(upload_id.encode()).hexdigest()
        part.write_bytes(b"")
        self.uploads[upload_id] = _Upload(
            bucket, name, length, meta.get("contentType") or "application/octet-stream",
            f"max-age={cache}" if cache.isdigit() else "no-cache", user_metadata, upsert, part)
        return web.Response(status=201, headers={
            **_TUS_HEADERS, "Location": f"{self.stack.url}{PATH}/{upload_id}"})

    async def head(self, request: web.Request) -> web.Response:
        upload = self._find(request)
        if upload is None:
            return _tus_error(404, "The file for this url was not found\n")
        return web.Response(status=200, headers={
            **_TUS_HEADERS, "Upload-Offset": str(upload.offset),
            "Upload-Length": str(upload.length), "Cache-Control": "no-store"})

    async def patch(self, request: web.Request) -> web.StreamResponse:
        upload = self._find(request)
        if upload is None:
            return _tus_error(404, "The file for this url was not found\n")
        if request.headers.get("Content-Type") != "application/offset+octet-stream":
            return _tus_error(415, "Unsupported Media Type\n")
        try:
            offset = int(request.headers["Upload-Offset"])
        except (KeyError, ValueError):
            return _tus_error(403, "Upload-Offset header required\n")
        if offset != upload.offset:
            return _tus_error(409, "Upload-Offset conflict\n")
        declared = request.content_length or 0
        if offset + declared > upload.length:
            return _tus_error(413, "Maximum size exceeded\n")
        if declared != CHUNK_SIZE and offset + declared != upload.length:
            return _tus_error(400, f"Supabase expects chunks of exactly {CHUNK_SIZE} bytes "
                                   f"(got {declared})\n")
        try:
            claims = self.storage.claims(request)
            await self.storage.check_can_upload(claims, upload.bucket, upload.name,
                                                upsert=upload.upsert)
        except StorageFailure as exc:
            return exc.response()
        except psycopg.Error as exc:
            return database_failure(exc).response()

        cut = None
        at = self.stack.tus_cut_at
        if at is not None and offset < at < offset + declared:
            cut, self.stack.tus_cut_at = at - offset, None
        received = 0
        with upload.part.open("ab") as out:
            while chunk := await request.content.read(256 * 1024):
                if cut is not None and received + len(chunk) >= cut:
                    chunk = chunk[:cut - received]
                out.write(chunk)
                received += len(chunk)
                if cut is not None and received >= cut:
                    break
        upload.offset += received
        self.stack.tus_patches.append((offset, received))
        if cut is not None and received >= cut:
            # The connection drops mid-chunk; the bytes that got here stay stored.
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)
        if upload.offset < upload.length:
            return web.Response(status=204, headers={**_TUS_HEADERS,
                                                     "Upload-Offset": str(upload.offset)})
        return await self._finish(request, claims, upload)

    async def _finish(self, request: web.Request, claims: dict[str, Any], upload: _Upload
                      ) -> web.Response:
        digest = hashlib.md5()
        with upload.part.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        try:
            await self.storage.write_object(
                claims, upload.bucket, upload.name, mode="upsert" if upload.upsert else "insert",
                size=upload.length, etag=digest.hexdigest(), content_type=upload.content_type,
                cache_control=upload.cache_control, user_metadata=upload.user_metadata,
                commit_bytes=lambda blob: os.replace(upload.part, blob))
        except StorageFailure as exc:
            return exc.response()
        except psycopg.Error as exc:
            return database_failure(exc).response()
        del self.uploads[request.match_info["upload_id"]]
        self.stack.uploads.append(object_key(upload.bucket, upload.name))
        return web.Response(status=204, headers={
            **_TUS_HEADERS, "Upload-Offset": str(upload.offset), "Tus-Complete": "1"})
