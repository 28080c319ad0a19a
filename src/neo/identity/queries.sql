-- Named queries of the identity capability (neo.kit.sqlfile format). They run on the
-- caller's transaction: RLS decides what each one sees and may change.

-- name: caller_rights
select neo.is_org_member($1) as member, neo.has_org_role($1, $2) as allowed,
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
select m.org_id, m.user_id, m.role, m.created_at
from neo_identity.memberships m where m.org_id = $1 order by m.created_at, m.user_id;

-- name: select_member
select * from neo_identity.memberships where org_id = $1 and user_id = $2;

-- name: insert_member
insert into neo_identity.memberships (org_id, user_id, role) values ($1, $2, $3) returning *;

-- name: update_member
update neo_identity.memberships set role = $3 where org_id = $1 and user_id = $2 returning *;

-- name: delete_member
delete from neo_identity.memberships where org_id = $1 and user_id = $2 returning user_id;

-- name: insert_invitation
insert into neo_identity.invitations (org_id, email, role, token_hash, expires_at, invited_by)
values ($1, $2, $3, $4, $5, auth.uid())
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
