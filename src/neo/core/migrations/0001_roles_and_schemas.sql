-- The Supabase baseline every capability relies on: API roles, schemas and default grants.
-- Roles are cluster-wide, so each is created only when missing (another database of the same
-- server may have created it already, possibly at the same moment).

do $$
declare
    r record;
begin
    for r in select * from (values
        ('anon', 'nologin noinherit'),
        ('authenticated', 'nologin noinherit'),
        ('service_role', 'nologin noinherit bypassrls'),
        ('authenticator', 'login noinherit'),
        ('supabase_admin', 'nologin'),
        ('supabase_auth_admin', 'nologin noinherit'),
        ('supabase_storage_admin', 'nologin noinherit'),
        ('supabase_realtime_admin', 'nologin noinherit'),
        ('dashboard_user', 'nologin'),
        ('pgbouncer', 'nologin')
    ) as t(name, options)
    loop
        if not exists (select from pg_roles where rolname = r.name) then
            begin
                execute format('create role %I %s', r.name, r.options);
            exception when duplicate_object or unique_violation then
                null;
            end;
        end if;
    end loop;
end
$$;

grant anon, authenticated, service_role to authenticator;
-- The owner NEO connects as must be able to act as each API role (SET ROLE) and own objects
-- for the Supabase admin roles that dumps name as owners.
do $$
begin
    execute format('grant anon, authenticated, service_role, authenticator to %I', current_user);
    execute format(
        'grant supabase_admin, supabase_auth_admin, supabase_storage_admin, '
        'supabase_realtime_admin to %I', current_user);
exception when others then
    raise notice 'neo: could not grant API roles to %: %', current_user, sqlerrm;
end
$$;

alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role authenticator set statement_timeout = '8s';

create schema if not exists extensions;
create schema if not exists auth;
create schema if not exists storage;
create schema if not exists realtime;
create schema if not exists neo;

grant usage on schema public, extensions, auth, storage, realtime, neo
    to anon, authenticated, service_role;
grant create on schema public to service_role;

-- Default privileges like Supabase's: RLS, not grants, is what restricts the API roles.
grant all on all tables in schema public to anon, authenticated, service_role;
grant all on all sequences in schema public to anon, authenticated, service_role;
grant all on all functions in schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges in schema extensions grant all on functions to anon, authenticated, service_role;

do $$
begin
    if not exists (select from pg_publication where pubname = 'supabase_realtime') then
        create publication supabase_realtime;
    end if;
end
$$;
