-- AUTOMATA Desktop cloud library: one row per generation, its texture files in the private
-- Storage bucket "textures" under <user id>/<generation id>/<map>.<ext>.
-- Apply with `supabase db push` or paste into the SQL editor of your Supabase project.
-- The desktop app only ever uses the anon key plus the signed-in user's JWT: every rule about
-- who may see or change what lives in the row-level security policies below.

create table if not exists public.generations (
    -- The id the desktop app gave the generation locally, so pushes are idempotent upserts.
    id          uuid primary key,
    user_id     uuid not null default auth.uid() references auth.users (id) on delete cascade,
    status      text not null
                check (status in ('queued', 'running', 'completed', 'failed', 'cancelled',
                                  'timed_out')),
    prompt      text not null default '',
    parameters  jsonb not null default '{}'::jsonb,
    workflow    text not null default '',
    server      text not null default '',
    error       text,
    started_at  timestamptz,
    finished_at timestamptz,
    duration_s  double precision
                generated always as (extract(epoch from (finished_at - started_at))) stored,
    -- [{kind, path (storage key), sha256, size, width, height, content_type}], written together
    -- with the row so a reader never sees a row whose file list is half updated.
    files       jsonb not null default '[]'::jsonb check (jsonb_typeof(files) = 'array'),
    created_at  timestamptz not null default now(),
    -- Set by the trigger below, never by clients: pulls page on it, so it must be server time.
    updated_at  timestamptz not null default now(),
    -- A tombstone: the generation was deleted on some device; others delete their local copy.
    deleted_at  timestamptz
);

comment on table public.generations is 'AUTOMATA Desktop generations, synced from each device';

-- "My generations changed since T", the query every pull runs.
create index if not exists generations_user_updated_idx
    on public.generations (user_id, updated_at);

create or replace function public.automata_touch_updated_at() returns trigger
    language plpgsql
    set search_path to ''
as $$
begin
    new.updated_at := now();
    return new;
end
$$;

drop trigger if exists generations_touch_updated_at on public.generations;
create trigger generations_touch_updated_at
    before insert or update on public.generations
    for each row execute function public.automata_touch_updated_at();

-- Row-level security: a signed-in user sees and changes only their own generations.
alter table public.generations enable row level security;
-- Anonymous callers (the anon key without a user session) get nothing, not even an empty table.
revoke all on public.generations from anon;

drop policy if exists "generations: owner can read" on public.generations;
create policy "generations: owner can read" on public.generations
    for select to authenticated
    using ((select auth.uid()) = user_id);

drop policy if exists "generations: owner can insert" on public.generations;
create policy "generations: owner can insert" on public.generations
    for insert to authenticated
    with check ((select auth.uid()) = user_id);

drop policy if exists "generations: owner can update" on public.generations;
create policy "generations: owner can update" on public.generations
    for update to authenticated
    using ((select auth.uid()) = user_id)
    with check ((select auth.uid()) = user_id);

drop policy if exists "generations: owner can delete" on public.generations;
create policy "generations: owner can delete" on public.generations
    for delete to authenticated
    using ((select auth.uid()) = user_id);

-- Storage: a private bucket; the first folder of every object key is the owner's user id.
insert into storage.buckets (id, name, public)
values ('textures', 'textures', false)
on conflict (id) do nothing;

drop policy if exists "textures: owner can read" on storage.objects;
create policy "textures: owner can read" on storage.objects
    for select to authenticated
    using (bucket_id = 'textures'
           and (storage.foldername(name))[1] = (select auth.uid())::text);

drop policy if exists "textures: owner can upload" on storage.objects;
create policy "textures: owner can upload" on storage.objects
    for insert to authenticated
    with check (bucket_id = 'textures'
                and (storage.foldername(name))[1] = (select auth.uid())::text);

-- Uploading with x-upsert over an existing object is an update, so it needs this policy too.
drop policy if exists "textures: owner can replace" on storage.objects;
create policy "textures: owner can replace" on storage.objects
    for update to authenticated
    using (bucket_id = 'textures'
           and (storage.foldername(name))[1] = (select auth.uid())::text)
    with check (bucket_id = 'textures'
                and (storage.foldername(name))[1] = (select auth.uid())::text);

drop policy if exists "textures: owner can delete" on storage.objects;
create policy "textures: owner can delete" on storage.objects
    for delete to authenticated
    using (bucket_id = 'textures'
           and (storage.foldername(name))[1] = (select auth.uid())::text);
