"""A local, Docker-free stand-in for a Supabase project, for tests (see server.py)."""

from .pg import PgCluster
from .server import SupabaseStack, apply_schema

__all__ = ["PgCluster", "SupabaseStack", "apply_schema"]
