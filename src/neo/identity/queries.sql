-- Named queries of the identity capability (neo.kit.sqlfile format). They run on the
-- caller's transaction: RLS decides what each one sees and may change.

-- name: caller_rights
select neo.is_org_member($1) as member, neo.has_org_role($1, $2) as allowed,
       neo.has_org_permission($1, $3) as permitted,
       exists (select from neo_identity.organizations o where o.id = $1) as visible;

-- name: list_orgs
select * from neo_identity.organizations order by created_at, id;

-- name: insert_org
insert into neo_identity.organizations (id, name, slug, created_by) values ($1, $2, $3, $4);

-- name: select_org
select * from neo_identity.organizations where id = $1;

-- name: update_org
update neo_identity.organizations
set name = coalesce($2, name), slug = coalesce($3, slug)
where id = $1
returning *;

-- name: delete_org
delete from neo_identity.organizations where id = $1 and not personal returning id;

-- name: list_members
select m.org_id, m.user_id, m.role, m.custom_role, m.created_at
from neo_identity.memberships m where m.org_id = $1 order by m.created_at, m.user_id;

-- name: select_member
select * from neo_identity.memberships where org_id = $1 and user_id = $2;

-- name: insert_member
insert into neo_identity.memberships (org_id, user_id, role, custom_role)
values ($1, $2, $3, $4)
returning *;

-- name: update_member
update neo_identity.memberships set role = $3, custom_role = $4
where org_id = $1 and user_id = $2
returning *;

-- name: delete_member
delete from neo_identity.memberships where org_id = $1 and user_id = $2 returning user_id;

-- name: insert_invitation
insert into neo_identity.invitations (org_id, email, role, token_hash, expires_at, invited_by)
values ($1, $2, $3, $4, $5,
        case when neo_identity.caller_service_account() is null then auth.uid() end)
returning *;

-- name: list_invitations
select * from neo_identity.invitations where org_id = $1 order by created_at, id;

-- name: revoke_invitation
update neo_identity.invitations set revoked_at = now()
where org_id = $1 and id = $2 and revoked_at is null and accepted_at is null
returning *;

-- name: select_invitation
select * from neo_identity.invitations where org_id = $1 and id = $2;

-- name: accept_invitation
select * from neo_identity.accept_invitation($1);

-- name: list_projects
select * from neo_identity.projects where org_id = $1 order by created_at, id;

-- name: insert_project
insert into neo_identity.projects (org_id, name, slug) values ($1, $2, $3) returning *;

-- name: select_project
select * from neo_identity.projects where org_id = $1 and id = $2;

-- name: update_project
update neo_identity.projects
set name = coalesce($3, name), slug = coalesce($4, slug)
where org_id = $1 and id = $2
returning *;

-- name: delete_project
delete from neo_identity.projects where org_id = $1 and id = $2 returning id;

-- name: write_audit
select neo_identity.write_audit($1, $2, $3, $4, $5, $6, $7, $8::jsonb);

-- name: list_audit
select * from neo_identity.audit_log
where org_id = $1
  and ($2::text is null or action = $2)
  and ($3::timestamptz is null or at >= $3)
order by id desc
limit $4 offset $5;

-- name: insert_service_account
insert into neo_identity.service_accounts (org_id, project_id, name, role, created_by)
values ($1, $2, $3, $4, auth.uid())
returning *;

-- name: list_service_accounts
select * from neo_identity.service_accounts where org_id = $1 order by created_at, id;

-- name: select_service_account
select * from neo_identity.service_accounts where org_id = $1 and id = $2;

-- name: delete_service_account
delete from neo_identity.service_accounts where org_id = $1 and id = $2 returning id;

-- name: insert_api_key
insert into neo_identity.api_keys
    (org_id, service_account_id, name, prefix, key_hash, permissions, expires_at, created_by)
values ($1, $2, $3, $4, $5, $6, $7, auth.uid())
returning id, org_id, service_account_id, name, prefix, permissions, expires_at, revoked_at,
          last_used_at, created_at;

-- name: list_api_keys
select id, org_id, service_account_id, name, prefix, permissions, expires_at, revoked_at,
       last_used_at, created_at
from neo_identity.api_keys
where org_id = $1 and service_account_id = $2
order by created_at, id;

-- name: revoke_api_key
update neo_identity.api_keys set revoked_at = now()
where org_id = $1 and service_account_id = $2 and id = $3 and revoked_at is null
returning id, org_id, service_account_id, name, prefix, permissions, expires_at, revoked_at,
          last_used_at, created_at;

-- name: select_api_key
select id, revoked_at from neo_identity.api_keys
where org_id = $1 and service_account_id = $2 and id = $3;

-- name: resolve_api_key
-- On the owner pool, once per request carrying a key: the live key's account, scope and
-- permissions; last_used_at is written at most once a minute per key.
with live as (
    select k.id, k.service_account_id, k.org_id, s.project_id, s.role, k.permissions
    from neo_identity.api_keys k
    join neo_identity.service_accounts s on s.id = k.service_account_id
    where k.key_hash = $1 and k.revoked_at is null
      and (k.expires_at is null or k.expires_at > now())
), touched as (
    update neo_identity.api_keys k set last_used_at = now()
    from live
    where k.id = live.id
      and (k.last_used_at is null or k.last_used_at < now() - interval '1 minute')
)
select * from live;

-- name: list_roles
select * from neo_identity.roles where org_id = $1 order by name;

-- name: select_role
select * from neo_identity.roles where org_id = $1 and name = $2;

-- name: insert_role
insert into neo_identity.roles (org_id, name, base, permissions) values ($1, $2, $3, $4)
returning *;

-- name: update_role
update neo_identity.roles set permissions = $3 where org_id = $1 and name = $2 returning *;

-- name: delete_role
delete from neo_identity.roles where org_id = $1 and name = $2 returning name;
