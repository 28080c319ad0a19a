-- When a signing key stopped signing: set as the current key becomes `previous` (a rotation).
-- A previous key is retired automatically (status `revoked`) once the longest access token it
-- could have signed has expired (`neo.core.key_refresh`). Keys that were already previous
-- count from this migration: whatever they signed was signed before it.

alter table neo_core.signing_keys add column signed_until timestamptz;

update neo_core.signing_keys set signed_until = now() where status = 'previous';
