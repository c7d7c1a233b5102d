-- AUTOMATA Desktop: the grants the app needs, now that Supabase no longer gives them.
-- Apply after 20261125000000_automata_sync.sql (`supabase db push` applies both, in order).
--
-- Supabase used to grant every new table and function in `public` to anon, authenticated and
-- service_role. It stopped for new projects on 2026-05-30 and for every project on 2026-10-30
-- (changelog of 2026-04-28): without these grants every push and pull of the app fails with
-- "permission denied for table generations" (42501). Row-level security (the first migration)
-- still decides which rows a user sees; grants decide which statements reach the table at all.

-- What the signed-in app does, and nothing more:
--   select  every pull, and the conflict check of the push's upsert
--   insert  the first push of a generation (an upsert on id)
--   update  later pushes (the upsert's DO UPDATE), and deletions: a deletion is a tombstone
--           (deleted_at is set, so other devices learn of it), never a DELETE of the row.
-- Projects that created the table before the change still carry the old blanket grants
-- (delete, truncate, references, trigger; truncate is not governed by RLS): revoke them first,
-- so every project ends with the same set. Anonymous callers get nothing. service_role (the
-- secret key, which the app never holds) is left as the project has it.
revoke all on table public.generations from anon, authenticated;
grant select, insert, update on table public.generations to authenticated;

-- Without a delete grant this policy can never apply; dropping it keeps the policies saying
-- what is allowed.
drop policy if exists "generations: owner can delete" on public.generations;

-- PostgreSQL grants EXECUTE on every new function to PUBLIC (and older projects also to the
-- API roles), which would expose it as /rest/v1/rpc/automata_touch_updated_at. A trigger
-- fires without its caller holding EXECUTE, so nobody needs it.
revoke execute on function public.automata_touch_updated_at()
    from public, anon, authenticated, service_role;
