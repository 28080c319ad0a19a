-- Named queries of MFA (TOTP factors, challenges, session AAL). Loaded by neo.auth.mfa.store.

-- name: insert_factor
insert into auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at,
                              updated_at, secret)
values ($1, $2, $3, 'totp', 'unverified', now(), now(), $4)
returning *;

-- name: select_factor
select * from auth.mfa_factors where id = $1 and user_id = $2 for update;

-- name: delete_factor
delete from auth.mfa_factors where id = $1 and user_id = $2 returning *;

-- name: delete_stale_factors
delete from auth.mfa_factors
where user_id = $1 and status = 'unverified' and created_at < now() - interval '5 minutes';

-- name: verify_factor
update auth.mfa_factors
set status = 'verified', last_used_step = $2, updated_at = now()
where id = $1;

-- name: insert_challenge
insert into auth.mfa_challenges (id, factor_id, created_at, ip_address)
values (gen_random_uuid(), $1, now(), coalesce($2::inet, '0.0.0.0'::inet))
returning id, created_at;

-- name: touch_factor_challenged
update auth.mfa_factors set last_challenged_at = clock_timestamp(), updated_at = now()
where id = $1;

-- name: select_challenge
select * from auth.mfa_challenges where id = $1 and factor_id = $2 for update;

-- name: count_challenge_attempt
update auth.mfa_challenges set attempts = attempts + 1 where id = $1 returning attempts;

-- name: delete_challenge
delete from auth.mfa_challenges where id = $1;

-- name: update_session_aal
update auth.sessions set aal = $2::auth.aal_level, factor_id = $3, updated_at = now()
where id = $1;

-- name: downgrade_factor_sessions
update auth.sessions set aal = 'aal1', factor_id = null, updated_at = now()
where factor_id = $1;

-- name: revoke_session_refresh_tokens
update auth.refresh_tokens set revoked = true, updated_at = now()
where session_id = $1 and not revoked;

-- name: advance_session_counter
update auth.sessions set refresh_token_counter = refresh_token_counter + $2, updated_at = now()
where id = $1 and refresh_token_counter is not null
returning refresh_token_counter;
