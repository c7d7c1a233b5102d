-- What a Supabase project has before any app migration runs: the API roles, the role migrations
-- run as, the auth schema (users, sessions, refresh tokens, auth.uid()/auth.jwt()) and the
-- storage schema (buckets, objects with RLS, storage.foldername()), owned as on a real project.
-- Function bodies follow supabase/auth and supabase/storage; roles and ownership follow
-- supabase/postgres (migrations/db) and supabase/storage. Test-only: run once as the superuser
-- `supabase_admin` of a throwaway cluster, never against a real Supabase project.

create role anon nologin noinherit;
create role authenticated nologin noinherit;
create role service_role nologin noinherit bypassrls;
create role authenticator login noinherit;
grant anon, authenticated, service_role to authenticator;

-- `postgres` is what `supabase db push` and the SQL editor connect as. It has not been a
-- superuser since 2022 (supabase/postgres 10000000000000_demote-postgres.sql): it owns the
-- database and what it creates in public, but not the auth and storage schemas, which belong
-- to the services' own roles (see "ownership" at the end).
create role postgres login nosuperuser createdb createrole replication bypassrls;
grant anon, authenticated, service_role to postgres;
create role supabase_auth_admin login noinherit createrole;
create role supabase_storage_admin login noinherit createrole;
do $$ begin
    execute format('alter database %I owner to postgres', current_database());
end $$;

create schema if not exists extensions;
grant usage on schema public, extensions to anon, authenticated, service_role;
-- No default privileges on public: since 2026-10-30 (new projects since 2026-05-30) Supabase
-- no longer grants new public tables, functions and sequences to anon/authenticated/
-- service_role. A migration must grant what the Data API may reach, or every request gets
-- "permission denied for table ..." (42501); adding the old defaults here would hide that.

create publication supabase_realtime;

-- auth ---------------------------------------------------------------------------------------
create schema auth;
grant usage on schema auth to anon, authenticated, service_role;

create table auth.users (
    instance_id uuid,
    id uuid primary key,
    aud varchar(255) default 'authenticated',
    role varchar(255) default 'authenticated',
    email varchar(255) unique,
    encrypted_password varchar(255),
    email_confirmed_at timestamptz,
    confirmation_sent_at timestamptz,
    confirmation_token varchar(255),
    last_sign_in_at timestamptz,
    raw_app_meta_data jsonb default '{"provider": "email", "providers": ["email"]}',
    raw_user_meta_data jsonb default '{}',
    created_at timestamptz default now(),
    updated_at timestamptz default now()
);

create table auth.sessions (
    id uuid primary key,
    user_id uuid not null references auth.users (id) on delete cascade,
    created_at timestamptz default now()
);

create table auth.refresh_tokens (
    id bigserial primary key,
    token varchar(255) unique not null,
    user_id uuid not null references auth.users (id) on delete cascade,
    session_id uuid references auth.sessions (id) on delete cascade,
    revoked boolean not null default false,
    parent varchar(255),
    created_at timestamptz default now(),
    updated_at timestamptz default now()
);

create function auth.uid() returns uuid
    language sql stable set search_path to ''
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create function auth.role() returns text
    language sql stable set search_path to ''
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create function auth.email() returns text
    language sql stable set search_path to ''
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

create function auth.jwt() returns jsonb
    language sql stable set search_path to ''
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
    to anon, authenticated, service_role;

-- storage ------------------------------------------------------------------------------------
create schema storage;
grant usage on schema storage to anon, authenticated, service_role;

create table storage.buckets (
    id text primary key,
    name text not null unique,
    owner uuid,
    public boolean default false,
    file_size_limit bigint,
    allowed_mime_types text[],
    created_at timestamptz default now(),
    updated_at timestamptz default now()
);

create table storage.objects (
    id uuid primary key default gen_random_uuid(),
    bucket_id text references storage.buckets (id),
    name text,
    owner uuid,
    owner_id text,
    metadata jsonb,
    user_metadata jsonb,
    version text,
    path_tokens text[] generated always as (string_to_array(name, '/')) stored,
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    last_accessed_at timestamptz default now(),
    unique (bucket_id, name)
);

alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;
grant all on storage.buckets, storage.objects to anon, authenticated, service_role;

create function storage.foldername(name text) returns text[]
    language plpgsql immutable
as $$
declare _parts text[];
begin
  select string_to_array(name, '/') into _parts;
  return _parts[1:array_length(_parts, 1) - 1];
end
$$;

create function storage.filename(name text) returns text
    language plpgsql immutable
as $$
declare _parts text[];
begin
  select string_to_array(name, '/') into _parts;
  return _parts[array_length(_parts, 1)];
end
$$;

create function storage.extension(name text) returns text
    language plpgsql immutable
as $$
declare _parts text[]; _filename text;
begin
  select string_to_array(name, '/') into _parts;
  select _parts[array_length(_parts, 1)] into _filename;
  return reverse(split_part(reverse(_filename), '.', 1));
end
$$;

grant execute on function storage.foldername(text), storage.filename(text), storage.extension(text)
    to anon, authenticated, service_role;

-- ownership -----------------------------------------------------------------------------------
-- The services own their schemas; `postgres` may use them (demote-postgres granted it all on
-- auth's tables; supabase/storage #806, 2025-11, all on buckets/objects with grant option).
alter schema auth owner to supabase_auth_admin;
alter schema storage owner to supabase_storage_admin;
do $$
declare obj record;
begin
    for obj in select c.oid::regclass as name, n.nspname
               from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname in ('auth', 'storage') and c.relkind in ('r', 'S')
                 and not exists (select from pg_depend d where d.objid = c.oid
                                 and d.deptype in ('a', 'i'))  -- serial sequences follow
    loop
        execute format('alter table %s owner to %I', obj.name,
                       case obj.nspname when 'auth' then 'supabase_auth_admin'
                       else 'supabase_storage_admin' end);
    end loop;
    for obj in select p.oid::regprocedure as name, n.nspname
               from pg_proc p join pg_namespace n on n.oid = p.pronamespace
               where n.nspname in ('auth', 'storage')
    loop
        execute format('alter function %s owner to %I', obj.name,
                       case obj.nspname when 'auth' then 'supabase_auth_admin'
                       else 'supabase_storage_admin' end);
    end loop;
end $$;
grant usage on schema auth, storage to postgres;
grant all on all tables in schema auth to postgres;
grant all on all sequences in schema auth to postgres;
grant all on storage.buckets, storage.objects to postgres with grant option;

-- What `postgres` may change on tables it does not own. A real project lets it create, alter
-- and drop policies on auth's and storage's tables (supautils.policy_grants, which runs just
-- those statements as the superuser) and create triggers on them (the TRIGGER privilege), and
-- refuses everything else an owner could do: `alter table storage.objects ...`, comments,
-- indexes, new tables ("must be owner of table objects", 42501). supautils is not available
-- here, so `postgres` is made a member of the owning roles (which allows the policies) and
-- these event triggers refuse, as a real project does, everything beyond them.
grant supabase_auth_admin, supabase_storage_admin to postgres;
create schema supabase_emulation;
revoke all on schema supabase_emulation from public;

create function supabase_emulation.refuse_service_ddl() returns event_trigger
    language plpgsql
as $$
declare cmd record;
begin
    if (select rolsuper from pg_roles where rolname = current_user) then
        return;
    end if;
    for cmd in select * from pg_event_trigger_ddl_commands() loop
        if cmd.schema_name in ('auth', 'storage') and cmd.command_tag not in
                ('CREATE POLICY', 'ALTER POLICY', 'DROP POLICY', 'CREATE TRIGGER', 'GRANT',
                 'REVOKE') then
            raise exception '%', case when cmd.command_tag like 'CREATE %'
                        and cmd.command_tag <> 'CREATE INDEX'
                    then format('permission denied for schema %s', cmd.schema_name)
                    else format('must be owner of %s %s', cmd.object_type,
                                regexp_replace(cmd.object_identity, '^.*\.', '')) end
                using errcode = '42501',
                      hint = format('%s on %s is refused on a real Supabase project: the %s '
                                    'schema belongs to its service; only policies and '
                                    'triggers may be added there', cmd.command_tag,
                                    cmd.object_identity, cmd.schema_name);
        end if;
    end loop;
end
$$;

create function supabase_emulation.refuse_service_drop() returns event_trigger
    language plpgsql
as $$
declare obj record;
begin
    if (select rolsuper from pg_roles where rolname = current_user) then
        return;
    end if;
    for obj in select * from pg_event_trigger_dropped_objects() loop
        if obj.schema_name in ('auth', 'storage') and obj.object_type <> 'policy' then
            raise exception 'must be owner of % %', obj.object_type, coalesce(obj.object_name,
                    split_part(regexp_replace(obj.object_identity, '^[^.]*\.', ''), '(', 1))
                using errcode = '42501',
                      hint = format('dropping %s is refused on a real Supabase project',
                                    obj.object_identity);
        end if;
    end loop;
end
$$;

create event trigger supabase_refuse_service_ddl on ddl_command_end
    execute function supabase_emulation.refuse_service_ddl();
create event trigger supabase_refuse_service_drop on sql_drop
    execute function supabase_emulation.refuse_service_drop();
