-- NEO's key material, per key set: the legacy HS256 secret, opaque API keys and asymmetric
-- signing keys. Several NEO instances can share one database; each key set is independent.
-- Only the owner role reads these tables.

create table neo_core.secrets (
    scope text not null,
    name text not null,
    value text not null,
    created_at timestamptz not null default now(),
    primary key (scope, name)
);

create table neo_core.signing_keys (
    keyset text not null,
    kid text not null,
    alg text not null check (alg in ('ES256', 'RS256', 'EdDSA')),
    status text not null check (status in ('standby', 'current', 'previous', 'revoked')),
    private_jwk jsonb not null,
    created_at timestamptz not null default now(),
    activated_at timestamptz,
    primary key (keyset, kid)
);

create unique index signing_keys_one_current on neo_core.signing_keys (keyset)
    where status = 'current';

revoke all on all tables in schema neo_core from public, anon, authenticated, service_role;
