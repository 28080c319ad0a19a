-- OAuth/OIDC sign-in: what NEO remembers between /authorize and /callback. The row id is the
-- `state` sent to the provider; the verifier and nonce never leave the server.

create table neo_auth.oauth_states (
    id uuid primary key,
    provider text not null,
    code_verifier text not null,
    nonce text not null,
    redirect_to text not null,
    flow_state_id uuid,
    link_user_id uuid references auth.users (id) on delete cascade,  -- linking, not sign-in
    created_at timestamptz not null default now()
);
create index oauth_states_created_at_idx on neo_auth.oauth_states (created_at);
