"""Building the supabase-py client the way this app needs it."""

from __future__ import annotations

import httpx
from supabase import Client, ClientOptions, create_client
from supabase_auth import SyncSupportedStorage

from automata_desktop.sync.settings import SupabaseSettings

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def create_supabase_client(settings: SupabaseSettings, storage: SyncSupportedStorage, *,
                           http_client: httpx.Client | None = None) -> Client:
    """A client whose session lives in `storage` and which fails fast when offline.

    - `postgrest_client_retry=False`: otherwise every read retries 1+2+4 s on a network error,
      so being offline costs 7 s per query; our outbox does its own backoff.
    - Our own httpx client: it also silences supabase-py's timeout/verify deprecation warnings.
    - The implicit flow: the PKCE verifier of an email sign-up is of no use to a desktop app,
      whose users confirm in the browser and then sign in with their password.
    """
    options = ClientOptions(
        storage=storage,
        httpx_client=http_client or httpx.Client(timeout=DEFAULT_TIMEOUT),
        postgrest_client_retry=False,
        auto_refresh_token=True,
        persist_session=True,
        flow_type="implicit",
    )
    return create_client(settings.url, settings.anon_key, options)
