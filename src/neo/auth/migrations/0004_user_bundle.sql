-- The user bundle the auth queries answer with (GoTrue's User object needs a user's
-- identities and factors, its access token the session's AMR claims), as JSON text, in one
-- place. A plain SQL function returning a table: the planner inlines it into the query that
-- joins it laterally, so it costs nothing over writing the subqueries out. Never the
-- factors' secrets.
create function neo_auth.user_bundle(uid uuid, sid uuid)
returns table (identities_json text, factors_json text, amr_json text)
language sql stable as $$
    select
        coalesce((select json_agg(i order by i.created_at) from auth.identities i
                  where i.user_id = uid), '[]')::text,
        coalesce((select json_agg(json_build_object(
                      'id', f.id, 'friendly_name', f.friendly_name, 'factor_type', f.factor_type,
                      'status', f.status, 'created_at', f.created_at, 'updated_at', f.updated_at,
                      'phone', f.phone, 'last_challenged_at', f.last_challenged_at)
                  order by f.created_at) from auth.mfa_factors f
                  where f.user_id = uid), '[]')::text,
        coalesce((select json_agg(json_build_object(
                      'method', c.authentication_method,
                      'timestamp', floor(extract(epoch from c.updated_at))::bigint)
                  order by c.updated_at desc) from auth.mfa_amr_claims c
                  where c.session_id = sid), '[]')::text
$$;
revoke all on function neo_auth.user_bundle(uuid, uuid) from public;
