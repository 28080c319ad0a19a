-- Extensions in schema `extensions`, as Supabase installs them. Where this server lacks one
-- (the embedded wheel has no uuid-ossp or pgcrypto), SQL shims provide its common functions;
-- `neo check` lists what a dump would need that is still missing.

do $$
declare
    ext text;
begin
    foreach ext in array array['uuid-ossp', 'pgcrypto', 'pg_trgm', 'vector', 'pg_stat_statements']
    loop
        if exists (select from pg_available_extensions where name = ext) then
            begin
                execute format('create extension if not exists %I with schema extensions', ext);
            exception when others then
                raise notice 'neo: extension % not created: %', ext, sqlerrm;
            end;
        end if;
    end loop;
end
$$;

do $$
begin
    if to_regprocedure('extensions.uuid_generate_v4()') is null then
        create function extensions.uuid_generate_v4() returns uuid
            language sql volatile parallel safe
            as 'select gen_random_uuid()';
        create function extensions.uuid_nil() returns uuid
            language sql immutable parallel safe
            as $f$select '00000000-0000-0000-0000-000000000000'::uuid$f$;
        comment on function extensions.uuid_generate_v4() is 'neo shim for uuid-ossp';
    end if;

    if to_regprocedure('extensions.gen_random_bytes(integer)') is null then
        -- 13 fully random bytes per v4 uuid (bytes 0-5 and 9-15 carry no version bits).
        create function extensions.gen_random_bytes(n integer) returns bytea
            language plpgsql volatile parallel safe
        as $f$
        declare
            out bytea := ''::bytea;
            u bytea;
        begin
            if n < 1 or n > 1024 then
                raise exception 'Length not in range' using errcode = '22023';
            end if;
            while length(out) < n loop
                u := uuid_send(gen_random_uuid());
                out := out || substring(u from 1 for 6) || substring(u from 10 for 7);
            end loop;
            return substring(out from 1 for n);
        end
        $f$;
        comment on function extensions.gen_random_bytes(integer) is 'neo shim for pgcrypto';
    end if;

    if to_regprocedure('extensions.digest(bytea, text)') is null then
        create function extensions.digest(data bytea, type text) returns bytea
            language sql immutable strict parallel safe
        as $f$
            select case lower(type)
                when 'md5' then decode(md5(data), 'hex')
                when 'sha224' then sha224(data)
                when 'sha256' then sha256(data)
                when 'sha384' then sha384(data)
                when 'sha512' then sha512(data)
            end
        $f$;
        create function extensions.digest(data text, type text) returns bytea
            language sql immutable strict parallel safe
            as 'select extensions.digest(convert_to(data, ''UTF8''), type)';
        comment on function extensions.digest(bytea, text) is 'neo shim for pgcrypto';
    end if;
end
$$;

grant execute on all functions in schema extensions to anon, authenticated, service_role;
