-- Custom roles per organization: a name, the built-in role it is based on (viewer, member or
-- admin) and the permissions it keeps. A member holding one has its base role wherever roles
-- are compared (`neo.has_org_role`, identity's own policies) and, on top, only its listed
-- permissions where permissions are checked (`neo.has_org_permission`, the identity API): a
-- custom role narrows its base, never widens it. Permissions are read from the table on every
-- check, so editing a role applies to the next request.

create table neo_identity.roles (
    org_id uuid not null references neo_identity.organizations (id) on delete cascade,
    name text not null check (name ~ '^[a-z][a-z0-9_-]{0,39}$'
                              and name not in ('owner', 'admin', 'member', 'viewer')),
    base text not null check (base in ('admin', 'member', 'viewer')),
    permissions text[] not null default '{}',
    created_at timestamptz not null default now(),
    primary key (org_id, name)
);

alter table neo_identity.memberships add column custom_role text;
alter table neo_identity.memberships add constraint memberships_custom_role_fkey
    foreign key (org_id, custom_role) references neo_identity.roles (org_id, name);

-- A membership with a custom role carries the role's base in `role`.
create function neo_identity.apply_custom_role() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
    if new.custom_role is not null then
        new.role := coalesce((select r.base from neo_identity.roles r
                              where r.org_id = new.org_id and r.name = new.custom_role),
                             new.role);
    end if;
    return new;
end
$$;
create trigger memberships_apply_custom_role before insert or update on neo_identity.memberships
    for each row execute function neo_identity.apply_custom_role();

-- True when the caller may use `permission` in `org`: a member with a built-in role (rights
-- come from the role), a member whose custom role lists it, or a live key of the org that
-- lists it. Apps use it next to `neo.has_org_role` in their own policies.
create function neo.has_org_permission(org uuid, permission text) returns boolean
language sql stable security definer set search_path = '' as $$
    select exists (
        select from neo_identity.memberships m
        left join neo_identity.roles r on r.org_id = m.org_id and r.name = m.custom_role
        where m.org_id = $1 and m.user_id = auth.uid()
          and (m.custom_role is null or $2 = any (r.permissions))
    ) or exists (
        select from neo_identity.service_accounts s
        where s.org_id = $1 and s.id = neo_identity.caller_service_account()
          and neo.has_scope($2)
    )
$$;
revoke all on function neo.has_org_permission(uuid, text) from public;
grant execute on function neo.has_org_permission(uuid, text) to anon, authenticated, service_role;

grant select, insert, update, delete on neo_identity.roles to authenticated, service_role;
alter table neo_identity.roles enable row level security;
create policy role_read on neo_identity.roles for select to authenticated
    using (neo.is_org_member(org_id));
create policy role_admin on neo_identity.roles for all to authenticated
    using (neo.has_org_role(org_id, 'admin')) with check (neo.has_org_role(org_id, 'admin'));
