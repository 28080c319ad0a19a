-- Identity: organizations, memberships, invitations, projects and the append-only audit log.
-- Every table has RLS; policies use the SQL helpers in schema `neo` (also meant for apps'
-- own policies). Roles are read from `memberships` on every check, never from JWT claims,
-- so a demotion takes effect on the caller's next statement.

create schema if not exists neo_identity;
revoke all on schema neo_identity from public;
grant usage on schema neo_identity to authenticated, service_role;

create table neo_identity.organizations (
    id uuid primary key default gen_random_uuid(),
    name text not null check (length(name) between 1 and 200),
    slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    personal boolean not null default false,
    created_by uuid references auth.users (id) on delete set null,
    created_at timestamptz not null default now()
);

create table neo_identity.memberships (
    org_id uuid not null references neo_identity.organizations (id) on delete cascade,
    user_id uuid not null references auth.users (id) on delete cascade,
    role text not null check (role in ('owner', 'admin', 'member', 'viewer')),
    created_at timestamptz not null default now(),
    primary key (org_id, user_id)
);
create index memberships_user_idx on neo_identity.memberships (user_id);

create table neo_identity.invitations (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null references neo_identity.organizations (id) on delete cascade,
    email text not null check (position('@' in email) > 1),
    role text not null check (role in ('owner', 'admin', 'member', 'viewer')),
    token_hash text not null unique,
    expires_at timestamptz not null,
    accepted_at timestamptz,
    accepted_by uuid references auth.users (id) on delete set null,
    revoked_at timestamptz,
    invited_by uuid references auth.users (id) on delete set null,
    created_at timestamptz not null default now()
);
create index invitations_org_idx on neo_identity.invitations (org_id, created_at);

create table neo_identity.projects (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null references neo_identity.organizations (id) on delete cascade,
    name text not null check (length(name) between 1 and 200),
    slug text not null check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    created_at timestamptz not null default now(),
    unique (org_id, slug)
);

-- No foreign keys: audit rows outlive the orgs, users and targets they name.
create table neo_identity.audit_log (
    id bigserial primary key,
    at timestamptz not null default now(),
    actor_id uuid,
    actor_role text not null,
    action text not null,
    target_type text not null,
    target_id text,
    org_id uuid,
    ip text,
    user_agent text,
    request_id text,
    details jsonb not null default '{}'
);
create index audit_log_org_idx on neo_identity.audit_log (org_id, id desc);

-- RLS helpers: security definer (they read memberships past RLS), keyed on auth.uid().
create function neo.is_org_member(org uuid) returns boolean
language sql stable security definer set search_path = '' as $$
    select exists (
        select from neo_identity.memberships m where m.org_id = $1 and m.user_id = auth.uid()
    )
$$;

create function neo.has_org_role(org uuid, role text) returns boolean
language sql stable security definer set search_path = '' as $$
    select exists (
        select from neo_identity.memberships m
        where m.org_id = $1 and m.user_id = auth.uid()
          and array_position(array['viewer', 'member', 'admin', 'owner'], m.role)
              >= array_position(array['viewer', 'member', 'admin', 'owner'], $2)
    )
$$;

create function neo.current_org_ids() returns setof uuid
language sql stable security definer set search_path = '' as $$
    select m.org_id from neo_identity.memberships m where m.user_id = auth.uid()
$$;

revoke all on function neo.is_org_member(uuid), neo.has_org_role(uuid, text),
    neo.current_org_ids() from public;
grant execute on function neo.is_org_member(uuid), neo.has_org_role(uuid, text),
    neo.current_org_ids() to anon, authenticated, service_role;

-- The creator of an organization becomes its owner (the caller cannot insert that
-- membership itself: it is not an admin of the org yet).
create function neo_identity.add_creator() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
    if new.created_by is not null then
        insert into neo_identity.memberships (org_id, user_id, role)
        values (new.id, new.created_by, 'owner');
    end if;
    return null;
end
$$;
create trigger organizations_add_creator after insert on neo_identity.organizations
    for each row execute function neo_identity.add_creator();

-- Every user gets a personal organization whose id is the user's id.
create function neo_identity.create_personal_org() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
    insert into neo_identity.organizations (id, name, slug, personal, created_by)
    values (new.id, coalesce(nullif(new.email, ''), 'Personal'), 'personal-' || new.id::text,
            true, new.id);
    return null;
end
$$;
create trigger users_create_personal_org after insert on auth.users
    for each row execute function neo_identity.create_personal_org();

create function neo_identity.drop_personal_org() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
    delete from neo_identity.organizations where id = old.id and personal;
    return null;
end
$$;
create trigger users_drop_personal_org after delete on auth.users
    for each row execute function neo_identity.drop_personal_org();

insert into neo_identity.organizations (id, name, slug, personal, created_by)
select u.id, coalesce(nullif(u.email, ''), 'Personal'), 'personal-' || u.id::text, true, u.id
from auth.users u
on conflict do nothing;

-- An organization keeps at least one owner, whatever path removes or demotes one (the org
-- row is locked so two concurrent demotions cannot both pass). Cascades from deleting the
-- org or the user are let through.
create function neo_identity.keep_an_owner() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
    if old.role <> 'owner' or (tg_op = 'UPDATE' and new.role = 'owner') then
        return null;
    end if;
    perform from neo_identity.organizations o where o.id = old.org_id for update;
    if not found or not exists (select from auth.users u where u.id = old.user_id) then
        return null;
    end if;
    if not exists (select from neo_identity.memberships m
                   where m.org_id = old.org_id and m.role = 'owner') then
        raise exception 'an organization keeps at least one owner' using errcode = 'NI001';
    end if;
    return null;
end
$$;
create trigger memberships_keep_an_owner after update or delete on neo_identity.memberships
    for each row execute function neo_identity.keep_an_owner();

-- Accepting an invitation: one statement that checks the token and the caller's address and
-- adds the membership, or changes nothing and says why.
create function neo_identity.accept_invitation(hash text, out status text, out org uuid,
                                               out granted text)
language plpgsql security definer set search_path = '' as $$
declare
    inv neo_identity.invitations;
    uid uuid := auth.uid();
begin
    select * into inv from neo_identity.invitations i where i.token_hash = hash for update;
    org := inv.org_id;
    granted := inv.role;
    if not found or uid is null then
        status := 'not_found';
    elsif inv.revoked_at is not null then
        status := 'revoked';
    elsif inv.accepted_at is not null then
        status := 'used';
    elsif inv.expires_at <= now() then
        status := 'expired';
    elsif not exists (select from auth.users u
                      where u.id = uid and lower(u.email) = lower(inv.email)) then
        status := 'email_mismatch';
    elsif exists (select from neo_identity.memberships m
                  where m.org_id = inv.org_id and m.user_id = uid) then
        status := 'already_member';
    else
        insert into neo_identity.memberships (org_id, user_id, role)
        values (inv.org_id, uid, inv.role);
        update neo_identity.invitations set accepted_at = now(), accepted_by = uid
        where id = inv.id;
        status := 'accepted';
    end if;
end
$$;
revoke all on function neo_identity.accept_invitation(text) from public;
grant execute on function neo_identity.accept_invitation(text) to authenticated;

-- Audit rows are written only through this function: the actor comes from the request's
-- claims, never from the caller's arguments.
create function neo_identity.write_audit(
    action text, target_type text, target_id text, org uuid,
    ip text, user_agent text, request_id text, details jsonb
) returns bigint
language sql volatile security definer set search_path = '' as $$
    insert into neo_identity.audit_log
        (actor_id, actor_role, action, target_type, target_id, org_id, ip, user_agent,
         request_id, details)
    values (auth.uid(), coalesce(auth.role(), 'anon'), $1, $2, $3, $4, $5, $6, $7,
            coalesce($8, '{}'))
    returning id
$$;
revoke all on function neo_identity.write_audit(text, text, text, uuid, text, text, text, jsonb)
    from public;
grant execute on function neo_identity.write_audit(text, text, text, uuid, text, text, text, jsonb)
    to authenticated, service_role;

create function neo_identity.refuse_change() returns trigger
language plpgsql set search_path = '' as $$
begin
    raise exception 'neo_identity.audit_log is append-only' using errcode = '42501';
end
$$;
create trigger audit_log_append_only before update or delete on neo_identity.audit_log
    for each row execute function neo_identity.refuse_change();
create trigger audit_log_no_truncate before truncate on neo_identity.audit_log
    for each statement execute function neo_identity.refuse_change();

-- Grants: RLS, not grants, restricts the API roles; the audit log is read-only to them.
grant select, insert, update, delete on neo_identity.organizations, neo_identity.memberships,
    neo_identity.invitations, neo_identity.projects to authenticated, service_role;
revoke all on neo_identity.audit_log from public, anon, authenticated, service_role;
grant select on neo_identity.audit_log to authenticated, service_role;

alter table neo_identity.organizations enable row level security;
alter table neo_identity.memberships enable row level security;
alter table neo_identity.invitations enable row level security;
alter table neo_identity.projects enable row level security;
alter table neo_identity.audit_log enable row level security;

create policy org_read on neo_identity.organizations for select to authenticated
    using (id in (select neo.current_org_ids()));
create policy org_create on neo_identity.organizations for insert to authenticated
    with check (created_by = auth.uid() and not personal);
create policy org_update on neo_identity.organizations for update to authenticated
    using (neo.has_org_role(id, 'admin')) with check (neo.has_org_role(id, 'admin'));
create policy org_delete on neo_identity.organizations for delete to authenticated
    using (neo.has_org_role(id, 'owner') and not personal);

create policy member_read on neo_identity.memberships for select to authenticated
    using (neo.is_org_member(org_id));
create policy member_add on neo_identity.memberships for insert to authenticated
    with check (neo.has_org_role(org_id, 'admin')
                and (role <> 'owner' or neo.has_org_role(org_id, 'owner')));
create policy member_change on neo_identity.memberships for update to authenticated
    using (neo.has_org_role(org_id, 'admin')
           and (role <> 'owner' or neo.has_org_role(org_id, 'owner')))
    with check (role <> 'owner' or neo.has_org_role(org_id, 'owner'));
create policy member_remove on neo_identity.memberships for delete to authenticated
    using (user_id = auth.uid()
           or (neo.has_org_role(org_id, 'admin')
               and (role <> 'owner' or neo.has_org_role(org_id, 'owner'))));

create policy invitation_admin on neo_identity.invitations for all to authenticated
    using (neo.has_org_role(org_id, 'admin')) with check (neo.has_org_role(org_id, 'admin'));

create policy project_read on neo_identity.projects for select to authenticated
    using (neo.is_org_member(org_id));
create policy project_write on neo_identity.projects for insert to authenticated
    with check (neo.has_org_role(org_id, 'member'));
create policy project_change on neo_identity.projects for update to authenticated
    using (neo.has_org_role(org_id, 'member')) with check (neo.has_org_role(org_id, 'member'));
create policy project_delete on neo_identity.projects for delete to authenticated
    using (neo.has_org_role(org_id, 'admin'));

create policy audit_read on neo_identity.audit_log for select to authenticated
    using (neo.has_org_role(org_id, 'admin'));
