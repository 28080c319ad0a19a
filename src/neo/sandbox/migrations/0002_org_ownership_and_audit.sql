-- Sandboxes owned by an organization (identity's `neo_identity.organizations`), rights from
-- the caller's role in it, quotas per owner (user or org), and the audit trail written into
-- identity's append-only `neo_identity.audit_log` (decision 0011).
--
-- A sandbox with `org_id` belongs to that org: readers need `sandboxes:read` (or
-- `sandboxes:write`) through `neo.has_org_permission` (built-in roles hold every permission,
-- custom roles and keys only what they list); writers need the role `member` or above and
-- `sandboxes:write`. A project-scoped key never reaches sandboxes (they belong to the org, not
-- to a project). Without `org_id` a sandbox belongs to the user in `owner`, as before.
-- No foreign key to the org: deleting an org must not fail on its sandboxes; those rows stay
-- for the service role (and the sweeper) to remove.

alter table neo_sandbox.sandboxes add column org_id uuid;
alter table neo_sandbox.sandboxes add column created_by text;
drop index neo_sandbox.sandboxes_owner_name;
create unique index sandboxes_owner_name
    on neo_sandbox.sandboxes (coalesce(org_id::text, owner, ''), name);
create index sandboxes_org_idx on neo_sandbox.sandboxes (org_id) where org_id is not null;

-- False for a key limited to one project (sandboxes are an org's); true for everyone else.
create function neo_sandbox.org_wide_caller() returns boolean
language sql stable security definer set search_path = '' as $$
    select not exists (
        select from neo_identity.service_accounts s
        where s.id = neo_identity.caller_service_account() and s.project_id is not null
    )
$$;

-- The helpers below are plain SQL without `set search_path` (every name qualified) so
-- that the planner inlines them into the policies: a user's own sandbox costs one comparison.
create function neo_sandbox.caller_sub() returns text
language sql stable as $$
    select nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
$$;

-- True when the caller's `sub` is a uuid: identity's helpers cast it (auth.uid()), which
-- would fail for tokens of external subjects; those reach only sandboxes of their own.
create function neo_sandbox.uuid_caller() returns boolean
language sql stable as $$
    select coalesce(neo_sandbox.caller_sub()
        ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', false)
$$;

create function neo_sandbox.may_read(org uuid, owner text) returns boolean
language sql stable as $$
    select case
        when org is null then owner = neo_sandbox.caller_sub()
        when not neo_sandbox.uuid_caller() then false
        else (neo.has_org_permission(org, 'sandboxes:read')
              or neo.has_org_permission(org, 'sandboxes:write'))
             and neo_sandbox.org_wide_caller()
    end
$$;

-- (Keys never own a sandbox of their own: the insert policy refuses them one without org.)
create function neo_sandbox.may_write(org uuid, owner text) returns boolean
language sql stable as $$
    select case
        when org is null then owner = neo_sandbox.caller_sub()
        when not neo_sandbox.uuid_caller() then false
        else neo.has_org_role(org, 'member') and neo.has_org_permission(org, 'sandboxes:write')
             and neo_sandbox.org_wide_caller()
    end
$$;

revoke all on function neo_sandbox.org_wide_caller(), neo_sandbox.caller_sub(),
    neo_sandbox.uuid_caller(), neo_sandbox.may_read(uuid, text),
    neo_sandbox.may_write(uuid, text) from public;
grant execute on function neo_sandbox.org_wide_caller(), neo_sandbox.caller_sub(),
    neo_sandbox.uuid_caller(), neo_sandbox.may_read(uuid, text),
    neo_sandbox.may_write(uuid, text) to authenticated, service_role;

drop policy sandboxes_owner on neo_sandbox.sandboxes;
create policy sandboxes_read on neo_sandbox.sandboxes for select to authenticated
    using (neo_sandbox.may_read(org_id, owner));
-- CASE, not OR: only a uuid `sub` may reach identity's helper (it casts `sub`), and SQL does
-- not promise the order in which OR's operands are evaluated (PostgreSQL 15 and 18 differ).
create policy sandboxes_create on neo_sandbox.sandboxes for insert to authenticated
    with check (neo_sandbox.may_write(org_id, owner)
                and case when org_id is not null then true
                         when not neo_sandbox.uuid_caller() then true
                         else neo_identity.caller_service_account() is null end);
create policy sandboxes_change on neo_sandbox.sandboxes for update to authenticated
    using (neo_sandbox.may_write(org_id, owner)) with check (neo_sandbox.may_write(org_id, owner));
create policy sandboxes_remove on neo_sandbox.sandboxes for delete to authenticated
    using (neo_sandbox.may_write(org_id, owner));

-- How many sandboxes an owner (an org, else a user) holds, seen past RLS (a key allowed to
-- write but not to read still counts every one of its org's); only for the owner itself, a
-- member of the org or the service role (0 for anyone else: no counting other orgs' sandboxes).
create function neo_sandbox.count_owned(org uuid, owner text) returns bigint
language sql stable security definer set search_path = '' as $$
    select count(*) from neo_sandbox.sandboxes s
    where case when org is null then s.org_id is null and s.owner = $2 else s.org_id = $1 end
      and (auth.role() = 'service_role'
           or case when org is null then $2 = neo_sandbox.caller_sub()
                   when not neo_sandbox.uuid_caller() then false
                   else neo.is_org_member($1) end)
$$;
revoke all on function neo_sandbox.count_owned(uuid, text) from public;
grant execute on function neo_sandbox.count_owned(uuid, text) to authenticated, service_role;

-- Audit rows, written in batches by NEO's owner pool (never by API roles): the actor was
-- taken from the verified request, the org from the sandbox (a user-owned sandbox files its
-- rows under the user's personal org when there is one).
create function neo_sandbox.write_audit(entries jsonb) returns integer
language sql volatile set search_path = '' as $$
    with added as (
        insert into neo_identity.audit_log
            (at, actor_id, actor_role, action, target_type, target_id, org_id, ip, user_agent,
             request_id, details)
        select e.at, e.actor_id, e.actor_role, e.action, 'sandbox', e.sandbox_id,
               coalesce(e.org_id, (select o.id from neo_identity.organizations o
                                   where o.id = e.personal and o.personal)),
               e.ip, e.user_agent, e.request_id, coalesce(e.details, '{}')
        from jsonb_to_recordset(entries) as e(
            at timestamptz, actor_id uuid, actor_role text, action text, sandbox_id text,
            org_id uuid, personal uuid, ip text, user_agent text, request_id text, details jsonb)
        returning 1
    )
    select count(*)::integer from added
$$;
revoke all on function neo_sandbox.write_audit(jsonb) from public;
