-- Tokens from a trusted issuer may carry a `sub` that is not a UUID (`github|42`). auth.uid()
-- casts the subject and raises on those, as Supabase's does; identity's helpers, which apps
-- call from their own policies, answer "no" for such a caller instead: caller_uid() is the
-- subject as a uuid when it is one in canonical text form, null otherwise.
create function neo_identity.caller_uid() returns uuid
language sql stable set search_path = '' as $$
    select case when s ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
                then s::uuid end
    from (select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
    ) as s) c
$$;
revoke all on function neo_identity.caller_uid() from public;
grant execute on function neo_identity.caller_uid() to anon, authenticated, service_role;

create or replace function neo_identity.caller_service_account() returns uuid
language sql stable security definer set search_path = '' as $$
    select s.id from neo_identity.service_accounts s
    where s.id = neo_identity.caller_uid()
      and nullif(current_setting('request.jwt.claims', true), '')::jsonb -> 'neo' ->> 'kind'
          = 'service_account'
$$;

create or replace function neo.is_org_member(org uuid) returns boolean
language sql stable security definer set search_path = '' as $$
    select exists (
        select from neo_identity.memberships m
        where m.org_id = $1 and m.user_id = neo_identity.caller_uid()
    ) or exists (
        select from neo_identity.service_accounts s
        where s.org_id = $1 and s.id = neo_identity.caller_service_account()
    )
$$;

create or replace function neo.has_org_role(org uuid, role text) returns boolean
language sql stable security definer set search_path = '' as $$
    select exists (
        select from (
            select m.role from neo_identity.memberships m
            where m.org_id = $1 and m.user_id = neo_identity.caller_uid()
            union all
            select s.role from neo_identity.service_accounts s
            where s.org_id = $1 and s.id = neo_identity.caller_service_account()
        ) r
        where array_position(array['viewer', 'member', 'admin', 'owner'], r.role)
              >= array_position(array['viewer', 'member', 'admin', 'owner'], $2)
    )
$$;

create or replace function neo.current_org_ids() returns setof uuid
language sql stable security definer set search_path = '' as $$
    select m.org_id from neo_identity.memberships m where m.user_id = neo_identity.caller_uid()
    union all
    select s.org_id from neo_identity.service_accounts s
    where s.id = neo_identity.caller_service_account()
$$;

create or replace function neo.has_scope(permission text) returns boolean
language sql stable security definer set search_path = '' as $$
    select neo_identity.caller_service_account() is null or exists (
        select from neo_identity.api_keys k
        where k.id::text
              = nullif(current_setting('request.jwt.claims', true), '')::jsonb -> 'neo' ->> 'key_id'
          and k.service_account_id = neo_identity.caller_uid() and $1 = any (k.permissions)
          and k.revoked_at is null and (k.expires_at is null or k.expires_at > now())
    )
$$;

create or replace function neo.has_org_permission(org uuid, permission text) returns boolean
language sql stable security definer set search_path = '' as $$
    select exists (
        select from neo_identity.memberships m
        left join neo_identity.roles r on r.org_id = m.org_id and r.name = m.custom_role
        where m.org_id = $1 and m.user_id = neo_identity.caller_uid()
          and (m.custom_role is null or $2 = any (r.permissions))
    ) or exists (
        select from neo_identity.service_accounts s
        where s.org_id = $1 and s.id = neo_identity.caller_service_account()
          and neo.has_scope($2)
    )
$$;
