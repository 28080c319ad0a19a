-- Named queries of OAuth sign-in. Loaded once by neo.auth.oauth.store.

-- name: insert_oauth_state
insert into neo_auth.oauth_states (id, provider, code_verifier, nonce, redirect_to, flow_state_id,
                                   link_user_id)
values ($1, $2, $3, $4, $5, $6, $7);

-- name: take_oauth_state
delete from neo_auth.oauth_states where id = $1 returning *;

-- name: prune_oauth_states
delete from neo_auth.oauth_states where created_at < now() - interval '1 hour';

-- name: select_identity
select * from auth.identities where provider_id = $1 and provider = $2;

-- name: delete_identity
delete from auth.identities where id = $1 and user_id = $2 returning provider;

-- name: count_identities
select count(*) from auth.identities where user_id = $1;
