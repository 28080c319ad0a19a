-- The `storage` schema as Supabase's storage-api leaves it (tenant migrations 0001-0063, the
-- parts clients, policies and dumps depend on): buckets, objects with the generated
-- `path_tokens`, the helper functions RLS policies call, `search` for /object/list, RLS on,
-- and Supabase's grants. NEO adds one index on `objects.version` for the orphan sweep.

do $$
begin
    if to_regtype('storage.buckettype') is null then
        create type storage.buckettype as enum ('STANDARD', 'ANALYTICS', 'VECTOR');
    end if;
end
$$;

create table if not exists storage.buckets (
    id text primary key,
    name text not null,
    owner uuid,
    owner_id text,
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    public boolean default false,
    avif_autodetection boolean default false,
    file_size_limit bigint,
    allowed_mime_types text[],
    type storage.buckettype not null default 'STANDARD'
);
create unique index if not exists bname on storage.buckets using btree (name);

create table if not exists storage.objects (
    id uuid primary key default gen_random_uuid(),
    bucket_id text references storage.buckets (id),
    name text,
    owner uuid,
    owner_id text,
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    last_accessed_at timestamptz default now(),
    metadata jsonb,
    path_tokens text[] generated always as (string_to_array(name, '/')) stored,
    version text,
    user_metadata jsonb
);
create unique index if not exists bucketid_objname on storage.objects using btree (bucket_id, name);
create index if not exists name_prefix_search on storage.objects using btree (name text_pattern_ops);
create index if not exists idx_objects_bucket_id_name
    on storage.objects (bucket_id, name collate "C");
create index if not exists neo_objects_version on storage.objects (version);

alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;

create or replace function storage.foldername(name text) returns text[]
    language plpgsql immutable
as $$
declare
    _parts text[];
begin
    select string_to_array(name, '/') into _parts;
    return _parts[1:array_length(_parts, 1) - 1];
end
$$;

create or replace function storage.filename(name text) returns text
    language plpgsql immutable
as $$
declare
    _parts text[];
begin
    select string_to_array(name, '/') into _parts;
    return _parts[array_length(_parts, 1)];
end
$$;

create or replace function storage.extension(name text) returns text
    language plpgsql immutable
as $$
declare
    _parts text[];
    _filename text;
begin
    select string_to_array(name, '/') into _parts;
    select _parts[array_length(_parts, 1)] into _filename;
    return reverse(split_part(reverse(_filename), '.', 1));
end
$$;

create or replace function storage.get_size_by_bucket() returns table (size bigint, bucket_id text)
    language plpgsql stable
as $$
begin
    return query
        select sum((metadata ->> 'size')::bigint)::bigint as size, obj.bucket_id
        from storage.objects as obj
        group by obj.bucket_id;
end
$$;

-- /object/list: one level below `prefix` (which ends in '/'), folders first, as storage-api.
create or replace function storage.search(
    prefix text,
    bucketname text,
    limits int default 100,
    levels int default 1,
    offsets int default 0,
    search text default '',
    sortcolumn text default 'name',
    sortorder text default 'asc'
) returns table (
    name text,
    id uuid,
    updated_at timestamptz,
    created_at timestamptz,
    last_accessed_at timestamptz,
    metadata jsonb
)
    language plpgsql stable
as $func$
declare
    v_order_by text;
    v_sort_order text;
begin
    case
        when sortcolumn = 'name' then v_order_by = 'name';
        when sortcolumn = 'updated_at' then v_order_by = 'updated_at';
        when sortcolumn = 'created_at' then v_order_by = 'created_at';
        when sortcolumn = 'last_accessed_at' then v_order_by = 'last_accessed_at';
        else v_order_by = 'name';
    end case;
    case
        when sortorder = 'asc' then v_sort_order = 'asc';
        when sortorder = 'desc' then v_sort_order = 'desc';
        else v_sort_order = 'asc';
    end case;
    v_order_by = v_order_by || ' ' || v_sort_order;
    return query execute
        'with folders as (
            select path_tokens[$1] as folder
            from storage.objects
            where objects.name ilike $2 || $3 || ''%''
              and bucket_id = $4
              and array_length(objects.path_tokens, 1) <> $1
            group by folder
            order by folder ' || v_sort_order || '
        )
        (select folder as "name", null::uuid as id, null::timestamptz as updated_at,
                null::timestamptz as created_at, null::timestamptz as last_accessed_at,
                null::jsonb as metadata
         from folders)
        union all
        (select path_tokens[$1] as "name", id, updated_at, created_at, last_accessed_at, metadata
         from storage.objects
         where objects.name ilike $2 || $3 || ''%''
           and bucket_id = $4
           and array_length(objects.path_tokens, 1) = $1
         order by ' || v_order_by || ')
        limit $5
        offset $6'
        using levels, prefix, search, bucketname, limits, offsets;
end
$func$;

grant usage on schema storage to anon, authenticated, service_role;
grant all on storage.buckets, storage.objects to anon, authenticated, service_role;
grant execute on all functions in schema storage to anon, authenticated, service_role;
alter default privileges in schema storage grant all on tables to anon, authenticated, service_role;
alter default privileges in schema storage grant all on functions to anon, authenticated, service_role;
