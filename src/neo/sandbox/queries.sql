-- Named queries of the sandbox capability (neo.kit.sqlfile format).

-- name: free_slot
select neo_sandbox.free_slot($1);

-- name: lock_owner
select pg_advisory_xact_lock(hashtext('neo_sandbox.owner:' || $1::text));

-- name: count_owner_sandboxes
select count(*) from neo_sandbox.sandboxes where owner = $1;

-- name: insert_sandbox
insert into neo_sandbox.sandboxes
    (owner, name, labels, slot, cpus, memory_mb, disk_mb, pids, env, network,
     auto_stop_minutes, auto_delete_minutes)
values ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11, $12)
returning *;

-- name: select_sandbox
select * from neo_sandbox.sandboxes where id = $1;

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
