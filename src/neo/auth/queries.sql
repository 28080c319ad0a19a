-- Named queries of the auth capability. Loaded once by neo.auth.store.
-- Metadata merges follow GoTrue: top-level keys are replaced, a JSON null removes the key.

-- name: insert_user
insert into auth.users (
    instance_id, id, aud, role, email, phone, encrypted_password, email_confirmed_at,
    raw_app_meta_data, raw_user_meta_data, is_anonymous, invited_at, confirmation_sent_at,
    is_super_admin, created_at, updated_at
) values (
    '00000000-0000-0000-0000-000000000000', $1, $2, $3, $4, $5, $6, $7,
    $8::jsonb, $9::jsonb, $10, $11, $12, false, now(), now()
)
returning *;

-- name: select_user
select * from auth.users where id = $1;

-- name: select_user_for_update
select * from auth.users where id = $1 for update;

-- name: select_user_by_email
select * from auth.users
where lower(email) = lower($1) and is_sso_user = false
order by created_at
limit 1;

-- name: select_users
select * from auth.users
where ($3::text is null or email ilike '%' || $3 || '%')
order by created_at desc, id
limit $1 offset $2;

-- name: count_users
select count(*) from auth.users where ($1::text is null or email ilike '%' || $1 || '%');

-- name: delete_user
delete from auth.users where id = $1 returning id;

-- name: soft_delete_user
update auth.users
set deleted_at = now(), updated_at = now(), email = null, phone = null,
    encrypted_password = '', raw_user_meta_data = '{}'::jsonb
where id = $1
returning id;

-- name: update_user_password
update auth.users set encrypted_password = $2, updated_at = now() where id = $1;

-- name: update_user_email_confirmed
update auth.users
set email_confirmed_at = coalesce(email_confirmed_at, now()), updated_at = now()
where id = $1;

-- name: update_user_metadata
update auth.users
set raw_user_meta_data = (
        select coalesce(jsonb_object_agg(key, value) filter (where value <> 'null'::jsonb), '{}')
        from jsonb_each(coalesce(raw_user_meta_data, '{}') || $2::jsonb)
    ),
    updated_at = now()
where id = $1;

-- name: update_user_app_metadata
update auth.users
set raw_app_meta_data = (
        select coalesce(jsonb_object_agg(key, value) filter (where value <> 'null'::jsonb), '{}')
        from jsonb_each(coalesce(raw_app_meta_data, '{}') || $2::jsonb)
    ),
    updated_at = now()
where id = $1;

-- name: update_user_email
update auth.users
set email = $2, email_change = '', email_change_sent_at = null,
    email_confirmed_at = coalesce($3, email_confirmed_at), is_anonymous = false, updated_at = now()
where id = $1;

-- name: update_user_email_change
update auth.users
set email_change = $2, email_change_sent_at = now(), email_change_confirm_status = 0,
    updated_at = now()
where id = $1;

-- name: update_user_role
update auth.users set role = $2, updated_at = now() where id = $1;

-- name: update_user_ban
update auth.users set banned_until = $2, updated_at = now() where id = $1;

-- name: update_user_sent_at
update auth.users
set confirmation_sent_at = case when $2 = 'confirmation' then now() else confirmation_sent_at end,
    recovery_sent_at = case when $2 = 'recovery' then now() else recovery_sent_at end,
    reauthentication_sent_at = case when $2 = 'reauthentication' then now()
                                    else reauthentication_sent_at end,
    invited_at = case when $2 = 'invite' then coalesce(invited_at, now()) else invited_at end,
    updated_at = now()
where id = $1;

-- name: insert_identity
insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at,
                             created_at, updated_at)
values ($1, $2, $3::jsonb, $4, now(), now(), now())
on conflict (provider_id, provider) do update set identity_data = excluded.identity_data,
    updated_at = now()
returning *;

-- name: update_identity_email
update auth.identities
set identity_data = identity_data || jsonb_build_object('email', $2::text), updated_at = now()
where user_id = $1 and provider = 'email';

-- name: touch_identity
update auth.identities set last_sign_in_at = now(), updated_at = now()
where user_id = $1 and provider = $2;

-- name: select_factors
select * from auth.mfa_factors where user_id = $1 order by created_at;

-- name: select_session
select * from auth.sessions where id = $1;

-- name: touch_session
update auth.sessions
set refreshed_at = now() at time zone 'utc', updated_at = now()
where id = $1;

-- name: delete_session
delete from auth.sessions where id = $1;

-- name: delete_user_sessions
delete from auth.sessions where user_id = $1 and ($2::uuid is null or id <> $2);

-- name: select_user_sessions
select id, created_at, updated_at, refreshed_at, user_agent, host(ip) as ip, aal::text as aal
from auth.sessions where user_id = $1 order by created_at, id;

-- name: delete_user_session
delete from auth.sessions where id = $1 and user_id = $2 returning id;

-- name: delete_all_sessions
delete from auth.sessions;

-- name: insert_amr_claim
insert into auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method)
values (gen_random_uuid(), $1, now(), now(), $2)
on conflict (session_id, authentication_method) do update set updated_at = now();

-- name: insert_refresh_token
insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at,
                                 parent, session_id)
values ('00000000-0000-0000-0000-000000000000', $1, $2, false, now(), now(), $3, $4)
returning id;

-- name: insert_audit_entry
insert into auth.audit_log_entries (instance_id, id, payload, created_at, ip_address)
values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), $1::json, now(), $2);

-- name: upsert_one_time_token
insert into auth.one_time_tokens (id, user_id, token_type, token_hash, relates_to, code_hash,
                                  flow_state_id, verify_type, attempts, created_at, updated_at)
values (gen_random_uuid(), $1, $2::auth.one_time_token_type, $3, $4, $5, $6, $7, 0,
        now() at time zone 'utc', now() at time zone 'utc')
on conflict (user_id, token_type) do update
set token_hash = excluded.token_hash, relates_to = excluded.relates_to,
    code_hash = excluded.code_hash, flow_state_id = excluded.flow_state_id,
    verify_type = excluded.verify_type, attempts = 0,
    created_at = excluded.created_at, updated_at = excluded.updated_at;

-- name: select_one_time_token_by_hash
select * from auth.one_time_tokens where token_hash = $1 for update;

-- name: select_one_time_tokens_for_user
select * from auth.one_time_tokens where user_id = $1 for update;

-- name: count_otp_attempt
update auth.one_time_tokens set attempts = attempts + 1, updated_at = now()
where id = $1
returning attempts;

-- name: delete_one_time_token
delete from auth.one_time_tokens where id = $1;

-- name: insert_flow_state
insert into auth.flow_state (id, user_id, auth_code, code_challenge_method, code_challenge,
                             provider_type, authentication_method, created_at, updated_at)
values ($1, $2, $3, $4::auth.code_challenge_method, $5, $6, $7, now(), now());

-- name: issue_flow_state_code
update auth.flow_state set auth_code_issued_at = now(), user_id = coalesce($2, user_id),
    updated_at = now()
where id = $1
returning auth_code;

-- name: take_flow_state
delete from auth.flow_state where auth_code = $1 returning *;

-- name: insert_mail
insert into neo_auth.mailbox (recipient, subject, kind, body_text, body_html, link, code)
values ($1, $2, $3, $4, $5, $6, $7)
returning id, created_at;

-- name: select_mail
select * from neo_auth.mailbox
where ($1::text is null or lower(recipient) = lower($1))
order by id desc
limit $2;

-- name: delete_mail
delete from neo_auth.mailbox where ($1::text is null or lower(recipient) = lower($1));

-- name: hit_throttle
insert into neo_auth.throttles (key, window_start, hits)
values ($1, to_timestamp(floor(extract(epoch from now()) / $2::int) * $2::int), $3::int)
on conflict (key, window_start) do update set hits = neo_auth.throttles.hits + excluded.hits
returning hits,
    (extract(epoch from window_start) + $2::int - extract(epoch from now()))::int as retry_after;

-- name: peek_throttle
-- The current and the previous window: a hit is remembered for one to two windows.
select coalesce(sum(hits), 0)::int as hits from neo_auth.throttles
where key = $1 and window_start > now() - make_interval(secs => 2 * $2::int);

-- name: prune_throttles
delete from neo_auth.throttles where window_start < now() - interval '1 day';

-- name: select_user_by_email_change
select * from auth.users where lower(email_change) = lower($1) order by updated_at desc limit 1;

-- name: select_user_bundle
-- A user with what its JSON and access token need, in one round trip: identities, factors
-- (never the secret), the session's AMR claims and AAL.
select u.*,
    b.identities_json, b.factors_json, b.amr_json,
    (select s.aal::text from auth.sessions s where s.id = $2) as session_aal,
    exists (select from auth.sessions s where s.id = $2) as session_exists
from auth.users u, neo_auth.user_bundle(u.id, $2) b
where u.id = $1;

-- name: refresh_session
-- The refresh_token grant in one statement (decision 0005): lock the token ($1, a hash) and
-- its session, judge them, and act on the verdict:
--   rotate    revoke the token, store its successor $2[1], touch the session, audit;
--   keep      rotation off ($3 false): touch the session, the token stays;
--   catch_up  a revoked token used within $4 seconds of its rotation: the session's live
--             successor among $2 (its position is `live`), nothing written;
--   reuse     any other revoked token: audit and end the session (its tokens go with it);
--   retry     like catch_up, but no successor is visible yet: this statement's snapshot
--             predates the rotation it waited for; run again with $7 true (a second miss
--             is a reuse);
--   no_user, banned, expired, timebox, inactive: refused, nothing written.
-- No row: unknown token. The row carries the user bundle (as select_user_bundle) for the
-- token response. $5 / $6: session timebox and inactivity timeout in seconds (0: off).
-- $9 true: a rotate or keep commits without waiting for its WAL flush (decision 0005: a
-- crash of PostgreSQL within a fraction of a second can undo the rotation, which signs
-- that client out; reuse verdicts always wait).
with found as (
    select rt.id, rt.token, rt.revoked, rt.updated_at, rt.session_id, s.user_id,
        s.created_at as session_created_at, s.refreshed_at, s.not_after, s.aal,
        u.banned_until, u.id is not null as user_exists
    from auth.refresh_tokens rt
    join auth.sessions s on s.id = rt.session_id
    left join auth.users u on u.id = s.user_id
    where rt.token = $1
    for update of rt, s
), live as (
    select min(c.ord) as ord
    from found f
    cross join unnest($2::text[]) with ordinality as c (token, ord)
    join auth.refresh_tokens r on r.token = c.token
    where f.revoked and r.session_id = f.session_id and not r.revoked
), judged as (
    select f.*, case
        when not f.user_exists then 'no_user'
        when f.banned_until > now() then 'banned'
        when f.not_after < now() then 'expired'
        when $5::float8 > 0 and now() - f.session_created_at > make_interval(secs => $5)
            then 'timebox'
        when $6::float8 > 0 and (now() at time zone 'utc')
            - coalesce(f.refreshed_at, now() at time zone 'utc') > make_interval(secs => $6)
            then 'inactive'
        when not f.revoked and $3::boolean then 'rotate'
        when not $3::boolean then 'keep'
        when now() - f.updated_at > make_interval(secs => $4::float8) then 'reuse'
        when (select ord from live) is not null then 'catch_up'
        when $7::boolean then 'reuse'
        else 'retry'
    end as outcome
    from found f
), revoked as (
    update auth.refresh_tokens set revoked = true, updated_at = now()
    where id = (select id from judged where outcome = 'rotate')
), added as (
    insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at,
                                     updated_at, parent, session_id)
    select '00000000-0000-0000-0000-000000000000', ($2::text[])[1], j.user_id::text, false,
        now(), now(), j.token, j.session_id
    from judged j where j.outcome = 'rotate'
), touched as (
    update auth.sessions set refreshed_at = now() at time zone 'utc', updated_at = now()
    where id = (select session_id from judged where outcome in ('rotate', 'keep'))
), ended as (
    delete from auth.sessions where id = (select session_id from judged where outcome = 'reuse')
), audited as (
    insert into auth.audit_log_entries (instance_id, id, payload, created_at, ip_address)
    select '00000000-0000-0000-0000-000000000000', gen_random_uuid(),
        case j.outcome
        when 'rotate' then json_build_object('action', 'token_refreshed', 'log_type', 'token',
            'traits', json_build_object('session_id', j.session_id::text))
        else json_build_object('action', 'refresh_token_reuse', 'log_type', 'token',
            'traits', json_build_object('user_id', j.user_id::text,
                                        'session_id', j.session_id::text))
        end,
        now(), $8::text
    from judged j where j.outcome in ('rotate', 'reuse')
), relaxed as (
    select set_config('synchronous_commit', 'off', true) as value
    from judged j where j.outcome in ('rotate', 'keep') and $9::boolean
)
select j.outcome, j.session_id, j.user_id, (select ord from live) as live,
    j.aal::text as session_aal, (select count(*) from relaxed) > 0 as async_commit, u.*,
    b.identities_json, b.factors_json, b.amr_json
from judged j
left join auth.users u on u.id = j.user_id and j.outcome in ('rotate', 'keep', 'catch_up')
left join lateral neo_auth.user_bundle(u.id, j.session_id) b on u.id is not null;

-- name: rotate_session
-- The refresh_token grant for a session-signed token (decision 0012) in one statement: lock
-- the session $1 (its token's signature is checked before), compare the token's counter $2
-- with the session's, and act on the verdict:
--   rotate    the newest token: the counter moves one up, the session is touched, audit;
--   keep      rotation off ($3 false): touch the session, answer its newest token;
--   catch_up  the token one behind, within $4 seconds of the last rotation (a parallel
--             refresh, a client that failed to save the answer): answer the newest token,
--             nothing written;
--   reuse     any other older token: audit and end the session;
--   ahead     a counter the session never reached (a rotation lost to a crash): refused;
--   no_user, banned, expired, timebox, inactive: refused, nothing written.
-- No row: no such session, or not a session-signed one. A refresh that waited for the lock
-- sees the row as the rotation it waited for left it (READ COMMITTED re-reads a locked row),
-- so a parallel refresh with the same token is a catch_up at once. The rotation updates no
-- indexed column (a HOT update) and inserts no token row. The user comes back with the
-- columns of GoTrue's User object only (no password hash, no one-time tokens). $5 / $6:
-- session timebox and inactivity timeout in seconds (0: off). $8 true: a rotate or keep
-- commits without waiting for its WAL flush, as refresh_session; reuse verdicts always wait.
with found as (
    select s.id as session_id, s.user_id, s.created_at as session_created_at, s.refreshed_at,
        s.not_after, s.aal, s.refresh_token_counter as counter, u.banned_until,
        u.id is not null as user_exists
    from auth.sessions s
    left join auth.users u on u.id = s.user_id
    where s.id = $1 and s.refresh_token_hmac_key = 'neo1' and s.refresh_token_counter is not null
    for update of s
), judged as (
    select f.*, case
        when not f.user_exists then 'no_user'
        when f.banned_until > now() then 'banned'
        when f.not_after < now() then 'expired'
        when $5::float8 > 0 and now() - f.session_created_at > make_interval(secs => $5)
            then 'timebox'
        when $6::float8 > 0 and (now() at time zone 'utc')
            - coalesce(f.refreshed_at, now() at time zone 'utc') > make_interval(secs => $6)
            then 'inactive'
        when $2::bigint > f.counter then 'ahead'
        when not $3::boolean then 'keep'
        when $2::bigint = f.counter then 'rotate'
        when $2::bigint = f.counter - 1 and (now() at time zone 'utc')
            - f.refreshed_at < make_interval(secs => $4::float8) then 'catch_up'
        else 'reuse'
    end as outcome
    from found f
), touched as (
    update auth.sessions s
    set refresh_token_counter = s.refresh_token_counter + (j.outcome = 'rotate')::int,
        refreshed_at = now() at time zone 'utc', updated_at = now()
    from judged j
    where s.id = j.session_id and j.outcome in ('rotate', 'keep')
), ended as (
    delete from auth.sessions where id = (select session_id from judged where outcome = 'reuse')
), audited as (
    insert into auth.audit_log_entries (instance_id, id, payload, created_at, ip_address)
    select '00000000-0000-0000-0000-000000000000', gen_random_uuid(),
        case j.outcome
        when 'rotate' then json_build_object('action', 'token_refreshed', 'log_type', 'token',
            'traits', json_build_object('session_id', j.session_id::text))
        else json_build_object('action', 'refresh_token_reuse', 'log_type', 'token',
            'traits', json_build_object('user_id', j.user_id::text,
                                        'session_id', j.session_id::text))
        end,
        now(), $7::text
    from judged j where j.outcome in ('rotate', 'reuse')
), relaxed as (
    select set_config('synchronous_commit', 'off', true) as value
    from judged j where j.outcome in ('rotate', 'keep') and $8::boolean
)
select j.outcome, j.session_id, j.user_id, j.counter + (j.outcome = 'rotate')::int as counter,
    j.aal::text as session_aal, (select count(*) from relaxed) > 0 as async_commit,
    u.id, u.aud, u.role, u.email, u.email_confirmed_at, u.phone, u.phone_confirmed_at,
    u.confirmation_sent_at, u.confirmed_at, u.recovery_sent_at, u.email_change,
    u.email_change_sent_at, u.phone_change, u.phone_change_sent_at, u.reauthentication_sent_at,
    u.invited_at, u.last_sign_in_at, u.raw_app_meta_data, u.raw_user_meta_data, u.created_at,
    u.updated_at, u.banned_until, u.deleted_at, u.is_anonymous,
    b.identities_json, b.factors_json, b.amr_json
from judged j
left join auth.users u on u.id = j.user_id and j.outcome in ('rotate', 'keep', 'catch_up')
left join lateral neo_auth.user_bundle(u.id, j.session_id) b on u.id is not null;

-- name: find_login
-- The password grant's reads before its hash check, in one statement: a hit on the client
-- IP's token throttle ($1 its key, null when that limit is off; $2 the window, as
-- hit_throttle), the account's recent wrong passwords ($3 its key, null when off; $4 the
-- window, as peek_throttle) and the user by email $5 (as select_user_by_email; null for a
-- phone sign-in). Always one row: the user's columns are null when there is none.
with hit as (
    insert into neo_auth.throttles (key, window_start, hits)
    select $1, to_timestamp(floor(extract(epoch from now()) / $2::int) * $2::int), 1
    where $1::text is not null
    on conflict (key, window_start) do update set hits = neo_auth.throttles.hits + excluded.hits
    returning hits,
        (extract(epoch from window_start) + $2::int - extract(epoch from now()))::int
            as retry_after
)
select (select h.hits from hit h) as ip_hits, (select h.retry_after from hit h) as ip_retry_after,
    (select coalesce(sum(t.hits), 0)::int from neo_auth.throttles t
     where $3::text is not null and t.key = $3
       and t.window_start > now() - make_interval(secs => 2 * $4::int)) as login_failures,
    u.*
from (select) as one
left join lateral (
    select * from auth.users
    where lower(email) = lower($5) and is_sso_user = false
    order by created_at
    limit 1
) u on true;

-- name: open_session
-- A new session and what a sign-in writes with it, in one statement, returning the user
-- bundle (as select_user_bundle, with the columns rotate_session returns) for the token
-- response: the session ($1 id, $2 user, $3 aal, $4 user agent, $5 ip, $6 / $7 the
-- refresh-token key name and counter of a session-signed session, decision 0012, both null
-- for one whose tokens live in auth.refresh_tokens), its AMR claim ($8 the method), the
-- user's last sign-in (and $13, a new password hash, when not null), the audit entry ($9
-- payload, $10 ip); $11 an identity provider whose last sign-in to record (null: none), $12
-- a throttle key to clear (an account's wrong passwords; null: none). One statement sees
-- the tables as they were before it, so the bundle is built from what its parts return.
with session as (
    insert into auth.sessions (id, user_id, created_at, updated_at, aal, refreshed_at,
                               user_agent, ip, refresh_token_hmac_key, refresh_token_counter)
    values ($1, $2, now(), now(), $3::auth.aal_level, now() at time zone 'utc', $4, $5::inet,
            $6, $7)
    returning id, aal
), claim as (
    insert into auth.mfa_amr_claims (id, session_id, created_at, updated_at,
                                     authentication_method)
    select gen_random_uuid(), s.id, now(), now(), $8 from session s
    returning authentication_method, updated_at
), identity as (
    update auth.identities set last_sign_in_at = now(), updated_at = now()
    where user_id = $2 and provider = $11
    returning *
), cleared as (
    delete from neo_auth.throttles where key = $12
), audited as (
    insert into auth.audit_log_entries (instance_id, id, payload, created_at, ip_address)
    values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), $9::json, now(), $10)
), u as (
    update auth.users
    set last_sign_in_at = now(), updated_at = now(),
        encrypted_password = coalesce($13, encrypted_password)
    where id = $2
    returning id, aud, role, email, email_confirmed_at, phone, phone_confirmed_at,
        confirmation_sent_at, confirmed_at, recovery_sent_at, email_change,
        email_change_sent_at, phone_change, phone_change_sent_at, reauthentication_sent_at,
        invited_at, last_sign_in_at, raw_app_meta_data, raw_user_meta_data, created_at,
        updated_at, banned_until, deleted_at, is_anonymous
)
select (select s.aal::text from session s) as session_aal, u.*,
    coalesce((select json_agg(x order by x.created_at) from (
                  select * from identity
                  union all
                  select * from auth.identities i
                  where i.user_id = u.id and i.id not in (select id from identity)
              ) x), '[]')::text as identities_json,
    coalesce((select json_agg(json_build_object(
                  'id', f.id, 'friendly_name', f.friendly_name, 'factor_type', f.factor_type,
                  'status', f.status, 'created_at', f.created_at, 'updated_at', f.updated_at,
                  'phone', f.phone, 'last_challenged_at', f.last_challenged_at)
              order by f.created_at) from auth.mfa_factors f
              where f.user_id = u.id), '[]')::text as factors_json,
    coalesce((select json_agg(json_build_object(
                  'method', c.authentication_method,
                  'timestamp', floor(extract(epoch from c.updated_at))::bigint))
              from claim c), '[]')::text as amr_json
from u;

-- name: record_login_failure
-- A wrong password (or an unknown account) in one statement: a hit on the account's
-- throttle ($1 its key, null when that limit is off; $2 the window, as hit_throttle) and the
-- `login_failed` audit entry ($3 payload, $4 ip).
with hit as (
    insert into neo_auth.throttles (key, window_start, hits)
    select $1, to_timestamp(floor(extract(epoch from now()) / $2::int) * $2::int), 1
    where $1::text is not null
    on conflict (key, window_start) do update set hits = neo_auth.throttles.hits + excluded.hits
)
insert into auth.audit_log_entries (instance_id, id, payload, created_at, ip_address)
values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), $3::json, now(), $4);
