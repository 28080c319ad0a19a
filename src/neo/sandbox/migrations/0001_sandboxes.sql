-- Sandboxes: one row per sandbox, owned by a user (JWT `sub`) or by the service role (null).
-- Authenticated callers reach only their own rows through RLS; NEO's own sweeps run as owner.

create schema if not exists neo_sandbox;
revoke all on schema neo_sandbox from public;
grant usage on schema neo_sandbox to authenticated, service_role;

create table neo_sandbox.sandboxes (
    id uuid primary key default gen_random_uuid(),
    owner text,
    name text not null,
    labels jsonb not null default '{}',
    state text not null default 'started'
        check (state in ('started', 'stopped', 'error')),
    slot integer not null unique,
    cpus numeric(6, 2) not null check (cpus > 0),
    memory_mb integer not null check (memory_mb > 0),
    disk_mb integer not null check (disk_mb > 0),
    pids integer not null check (pids > 0),
    env jsonb not null default '{}',
    network jsonb not null default '{"mode": "deny"}',
    auto_stop_minutes integer not null default 15 check (auto_stop_minutes >= 0),
    auto_delete_minutes integer check (auto_delete_minutes >= 0),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    last_activity_at timestamptz not null default now()
);
create unique index sandboxes_owner_name on neo_sandbox.sandboxes (coalesce(owner, ''), name);

alter table neo_sandbox.sandboxes enable row level security;
create policy sandboxes_owner on neo_sandbox.sandboxes to authenticated
    using (owner = current_setting('request.jwt.claims', true)::jsonb ->> 'sub')
    with check (owner = current_setting('request.jwt.claims', true)::jsonb ->> 'sub');
grant select, insert, update, delete on neo_sandbox.sandboxes to authenticated, service_role;

-- The smallest free slot (host uid offset), seen past RLS; serialised so two creations at
-- once cannot pick the same one.
create function neo_sandbox.free_slot(slots integer) returns integer
language plpgsql security definer set search_path = '' as $$
declare
    found integer;
begin
    perform pg_advisory_xact_lock(hashtext('neo_sandbox.free_slot'));
    select s into found from generate_series(0, slots - 1) as s
    where not exists (select from neo_sandbox.sandboxes b where b.slot = s)
    order by s limit 1;
    return found;
end
$$;
revoke all on function neo_sandbox.free_slot(integer) from public;
grant execute on function neo_sandbox.free_slot(integer) to authenticated, service_role;
