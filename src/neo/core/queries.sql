-- Named queries of the core (keys and secrets). Loaded once by neo.core.store.

-- name: select_secrets
select name, value from neo_core.secrets where scope = $1;

-- name: insert_secret
insert into neo_core.secrets (scope, name, value) values ($1, $2, $3)
on conflict (scope, name) do nothing;

-- name: lock_keyset
select pg_advisory_xact_lock(hashtextextended('neo.keyset:' || $1, 0));

-- name: select_signing_keys
select kid, alg, status, private_jwk::text as private_jwk, created_at, activated_at
from neo_core.signing_keys
where keyset = $1 and status <> 'revoked'
order by created_at;

-- name: insert_signing_key
insert into neo_core.signing_keys (keyset, kid, alg, status, private_jwk, activated_at)
values ($1, $2, $3, $4, $5::jsonb, case when $4 = 'current' then now() end);

-- name: retire_current_key
update neo_core.signing_keys set status = 'previous', signed_until = now()
where keyset = $1 and status = 'current';

-- name: revoke_signing_key
-- Retire a verify-only key for good: a revoked key is no longer loaded, so nothing it signed
-- verifies. The signing (current) key cannot be retired.
update neo_core.signing_keys set status = 'revoked'
where keyset = $1 and kid = $2 and status in ('previous', 'standby')
returning kid;

-- name: revoke_expired_keys
-- Automatic retirement: previous keys that stopped signing more than $2 seconds ago. One
-- statement, so processes running it at once retire each key once (a second run finds none).
update neo_core.signing_keys set status = 'revoked'
where keyset = $1 and status = 'previous'
  and signed_until < now() - make_interval(secs => $2::float8)
returning kid;

-- name: activate_standby_key
update neo_core.signing_keys set status = 'current', activated_at = now()
where keyset = $1 and status = 'standby'
returning kid;

-- name: set_role_password
select format('alter role authenticator password %L', $1::text);

-- name: select_server_facts
select current_setting('server_version_num')::int as version_num,
       current_setting('server_version') as version,
       current_setting('max_connections')::int as max_connections,
       current_setting('wal_level') as wal_level,
       (select rolsuper from pg_roles where rolname = current_user) as is_superuser;

-- name: select_extensions
select name, installed_version from pg_available_extensions order by name;

-- name: ping
select 1;

-- name: select_caller
select current_user as db_role, auth.uid()::text as uid, auth.role() as role,
       auth.email() as email, current_setting('request.method', true) as method;
