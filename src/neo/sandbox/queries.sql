-- Named queries of the sandbox capability (neo.kit.sqlfile format).

-- name: free_slot
select neo_sandbox.free_slot($1);

-- name: lock_owner
select pg_advisory_xact_lock(hashtext('neo_sandbox.owner:' || $1::text));

-- name: count_owned
select neo_sandbox.count_owned($1::uuid, $2::text);

-- name: org_access
select exists (select from neo_identity.organizations o where o.id = $1::uuid) as known,
       current_user = 'service_role' or neo_sandbox.may_write($1::uuid, null) as writable;

-- name: insert_sandbox
insert into neo_sandbox.sandboxes
    (owner, name, labels, slot, cpus, memory_mb, disk_mb, pids, env, network,
     auto_stop_minutes, auto_delete_minutes, org_id, created_by)
values ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11, $12, $13::uuid, $14)
returning *;

-- name: select_sandbox
select s.*, current_user = 'service_role' or neo_sandbox.may_write(s.org_id, s.owner) as writable
from neo_sandbox.sandboxes s where s.id = $1;

-- name: list_sandboxes
select * from neo_sandbox.sandboxes
where $1::jsonb is null or labels @> $1::jsonb
order by created_at, id;

-- name: update_state
update neo_sandbox.sandboxes
set state = $2, updated_at = now(), last_activity_at = now()
where id = $1
returning *;

-- name: delete_sandbox
delete from neo_sandbox.sandboxes where id = $1 returning id;

-- name: touch_sandbox
update neo_sandbox.sandboxes set last_activity_at = now() where id = $1;

-- name: touch_sandboxes
update neo_sandbox.sandboxes set last_activity_at = now() where id = any($1::uuid[]);

-- name: select_idle
select * from neo_sandbox.sandboxes
where state = 'started' and auto_stop_minutes > 0
  and last_activity_at < now() - make_interval(mins => auto_stop_minutes);

-- name: select_expired
select * from neo_sandbox.sandboxes
where state <> 'started' and auto_delete_minutes is not null
  and updated_at < now() - make_interval(mins => auto_delete_minutes);

-- name: select_all
select * from neo_sandbox.sandboxes order by created_at, id;

-- name: write_audit
select neo_sandbox.write_audit($1::jsonb);
