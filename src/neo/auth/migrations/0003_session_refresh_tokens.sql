-- Session-signed refresh tokens (decision 0012): GoTrue's two columns of migration
-- 20251007112900, with its names and types (0001 already creates them; kept here so a
-- database that predates them gains them). A rotation updates the session row instead of
-- inserting into auth.refresh_tokens. NEO stores `neo1` in refresh_token_hmac_key, naming
-- the key (derived from the server secret and the session id), never the key itself.
alter table auth.sessions
    add column if not exists refresh_token_hmac_key text,
    add column if not exists refresh_token_counter bigint;

comment on column auth.sessions.refresh_token_hmac_key is
    'The HMAC-SHA256 key that signs this session''s refresh tokens (NEO: neo1, a derived key).';
comment on column auth.sessions.refresh_token_counter is
    'The counter carried by the newest refresh token issued for this session.';

-- Room on each page for the rotated version of a row: the update changes no indexed column,
-- so it can stay a heap-only (HOT) update, with no index entry written.
alter table auth.sessions set (fillfactor = 80);
