"""Resumable uploads (TUS 1.0.0) to Supabase Storage, for files over 6 MB.

Supabase recommends them above 6 MB, and only they survive a dropped connection without sending
a large map again. The endpoint is Storage's `/storage/v1/upload/resumable` (supabase/storage,
`src/http/routes/tus`, on @tus/server):

- create: POST with `Upload-Length` and `Upload-Metadata` (base64 `bucketName`, `objectName`,
  `contentType`, `cacheControl`, and `metadata`: the user metadata as JSON, which `info()`
  shows afterwards); `x-upsert: true`; the user's JWT and the anon key. 201 + `Location`. A
  length over the project's upload limit is refused at once with 413, before any byte is sent;
- PATCH from `Upload-Offset` in chunks of exactly CHUNK_SIZE (6 MB, which Supabase requires:
  its store writes 6 MB parts), the last one shorter; 204 + the new `Upload-Offset`;
- HEAD: how much the server has. What reached it before a connection dropped stays stored, so
  a retry continues from there. The upload URL lives for 24 h; it is kept in the outbox's state
  so a later attempt, or the app started again, resumes instead of starting over.

A small client of our own rather than tuspy: tuspy brings `requests` (and its own HTTP stack,
besides aiohttp and tinydb); this one speaks through the app's httpx client, with its timeouts,
proxies and connection pool, and needs only the three requests above. Errors are raised as
storage3's StorageApiError with the HTTP response in their chain, so failures.py tells a 413, a
429 or a 503 apart exactly as it does for the standard upload.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from urllib.parse import urljoin

import httpx
from storage3.exceptions import StorageApiError

log = logging.getLogger(__name__)

#: Files above this go up resumably (Supabase's recommendation).
TUS_THRESHOLD = 6 * 1024 * 1024
#: Supabase's resumable endpoint takes chunks of exactly this size (the last may be shorter).
CHUNK_SIZE = 6 * 1024 * 1024
#: Dropped connections in a row, without progress, before this attempt gives up (the outbox
#: then retries later, still from the server's offset).
MAX_DROPS = 3
_TUS = {"Tus-Resumable": "1.0.0"}
_STATE_PREFIX = "tus."


class StateStore(Protocol):
    """Where upload URLs wait between attempts (the outbox's state table)."""

    def get_state(self, key: str) -> str | None: ...

    def set_state(self, key: str, value: str) -> None: ...

    def clear_state(self, key: str) -> None: ...


def _refusal(response: httpx.Response, what: str) -> StorageApiError:
    """storage-api's JSON error if it sent one, else tus' plain-text one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and {"statusCode", "message"} <= body.keys():
        return StorageApiError(str(body["message"]), str(body.get("error") or ""),
                               str(body["statusCode"]))
    text = response.text.strip() or response.reason_phrase
    return StorageApiError(f"{what}: {text}", "TusError", response.status_code)


def _check(response: httpx.Response, what: str) -> httpx.Response:
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        raise _refusal(response, what) from exc
    return response


def _metadata(values: dict[str, str]) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}"
                    for key, value in values.items())


class ResumableUploader:
    """Uploads one file at a time per call; safe to share between upload threads."""

    def __init__(self, http: httpx.Client, storage_url: str,
                 auth_headers: Callable[[], dict[str, str]], state: StateStore) -> None:
        """`storage_url`: the project's `…/storage/v1/`; `auth_headers()`: Authorization (the
        user's current JWT) and apikey, asked for before each request so a long upload goes
        on with a refreshed token."""
        self.http = http
        self.endpoint = urljoin(storage_url.rstrip("/") + "/", "upload/resumable")
        self.auth_headers = auth_headers
        self.state = state

    def upload(self, bucket: str, key: str, path: Path, *, size: int, sha256: str,
               content_type: str, cache_control: str = "3600") -> None:
        """Send `path` to `bucket/key`, resuming an earlier attempt at the same bytes."""
        state_key = f"{_STATE_PREFIX}{bucket}/{key}"
        url = self._saved_url(state_key, size, sha256)
        offset = self._offset(url) if url else None
        if url is None or offset is None:
            url = self._create(bucket, key, size=size, sha256=sha256,
                               content_type=content_type, cache_control=cache_control)
            self.state.set_state(state_key, json.dumps({"url": url, "size": size,
                                                        "sha256": sha256}))
            offset = 0
        elif offset:
            log.info("Resuming the upload of %s at %d of %d bytes", key, offset, size)
        drops = 0
        with path.open("rb") as handle:
            while offset < size:
                handle.seek(offset)
                chunk = handle.read(CHUNK_SIZE)
                if not chunk:
                    raise OSError(f"{path} is shorter than {size} bytes; it changed while "
                                  "uploading and is sent again next time")
                try:
                    offset = self._patch(url, offset, chunk)
                    drops = 0
                except httpx.TransportError:
                    drops += 1
                    if drops > MAX_DROPS:
                        raise
                    # The server kept what reached it; go on from there (raises if offline).
                    resumed = self._offset(url)
                    if resumed is None:
                        self.state.clear_state(state_key)
                        raise
                    offset = resumed
        self.state.clear_state(state_key)

    def _headers(self) -> dict[str, str]:
        return {**_TUS, **self.auth_headers()}

    def _saved_url(self, state_key: str, size: int, sha256: str) -> str | None:
        raw = self.state.get_state(state_key)
        if not raw:
            return None
        try:
            saved = json.loads(raw)
        except ValueError:
            return None
        if saved.get("size") != size or saved.get("sha256") != sha256:
            return None
        return str(saved.get("url") or "") or None

    def _create(self, bucket: str, key: str, *, size: int, sha256: str, content_type: str,
                cache_control: str) -> str:
        metadata = _metadata({"bucketName": bucket, "objectName": key,
                              "contentType": content_type, "cacheControl": cache_control,
                              "metadata": json.dumps({"sha256": sha256})})
        response = _check(self.http.post(self.endpoint, headers={
            **self._headers(), "Upload-Length": str(size), "Upload-Metadata": metadata,
            "x-upsert": "true"}), f"Supabase Storage refused to start uploading {key}")
        location = response.headers.get("Location")
        if not location:
            raise StorageApiError("Supabase Storage started an upload without a Location",
                                  "TusError", response.status_code)
        return urljoin(self.endpoint + "/", location)

    def _offset(self, url: str) -> int | None:
        """How many bytes the server holds; None when it no longer knows the upload."""
        response = self.http.head(url, headers=self._headers())
        if response.status_code in {404, 410}:
            return None
        _check(response, "Supabase Storage could not say how much of an upload arrived")
        return int(response.headers["Upload-Offset"])

    def _patch(self, url: str, offset: int, chunk: bytes) -> int:
        response = self.http.patch(url, content=chunk, headers={
            **self._headers(), "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream"})
        if response.status_code == 409:  # our offset is not the server's: ask it
            current = self._offset(url)
            if current is None or current == offset:
                raise _refusal(response, "Supabase Storage refused the upload's offset")
            return current
        _check(response, "Supabase Storage refused part of an upload")
        return int(response.headers.get("Upload-Offset", offset + len(chunk)))
