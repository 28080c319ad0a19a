-- Storage's SQL: buckets and objects in Supabase's `storage` schema. Run as the caller (RLS
-- decides) except where the service says otherwise (bucket limits, public and signed reads).

-- name: select_bucket
select id, name, coalesce(owner::text, owner_id, '') as owner, owner_id, public, type::text,
       file_size_limit, allowed_mime_types, created_at, updated_at
from storage.buckets
where id = $1;

-- name: select_buckets
-- $1 limit, $2 offset, $3 search (substring of the name), $4 sort column, $5 'asc' | 'desc'
select id, name, coalesce(owner::text, owner_id, '') as owner, owner_id, public, type::text,
       file_size_limit, allowed_mime_types, created_at, updated_at
from storage.buckets
where $3::text = '' or name ilike '%' || $3 || '%'
order by
    case when $5 = 'desc' then null else
        case $4 when 'id' then id when 'created_at' then to_char(created_at, 'YYYYMMDDHH24MISSUS')
                when 'updated_at' then to_char(updated_at, 'YYYYMMDDHH24MISSUS') else name end
    end asc,
    case when $5 = 'desc' then
        case $4 when 'id' then id when 'created_at' then to_char(created_at, 'YYYYMMDDHH24MISSUS')
                when 'updated_at' then to_char(updated_at, 'YYYYMMDDHH24MISSUS') else name end
    end desc
limit $1 offset $2;

-- name: insert_bucket
insert into storage.buckets (id, name, owner, owner_id, public, file_size_limit, allowed_mime_types)
values ($1, $2, $3, $4, $5, $6, $7)
returning name;

-- name: update_bucket
-- $2 public (null: keep), $3 file_size_limit, $4 set it, $5 allowed_mime_types, $6 set them
update storage.buckets
set public = coalesce($2, public),
    file_size_limit = case when $4 then $3 else file_size_limit end,
    allowed_mime_types = case when $6 then $5 else allowed_mime_types end,
    updated_at = now()
where id = $1
returning id;

-- name: delete_bucket
delete from storage.buckets where id = $1 returning id;

-- name: delete_bucket_objects
delete from storage.objects where bucket_id = $1 returning bucket_id, name, version;

-- name: select_object
select id, bucket_id, name, owner, owner_id, version, metadata, user_metadata,
       created_at, updated_at, last_accessed_at
from storage.objects
where bucket_id = $1 and name = $2;

-- name: select_public_object
-- An object of a public bucket, for anyone, in one statement: no row when the bucket is
-- missing, `public` false when it is not public, a null `version` when the key is missing.
select b.public, o.id, o.bucket_id, o.name, o.owner, o.owner_id, o.version, o.metadata,
       o.user_metadata, o.created_at, o.updated_at, o.last_accessed_at
from storage.buckets b
left join storage.objects o on o.bucket_id = b.id and o.name = $2
where b.id = $1;

-- name: lock_object
select id, version from storage.objects where bucket_id = $1 and name = $2 for update;

-- name: insert_object
-- no RETURNING: an INSERT policy alone must be enough to upload (RETURNING needs SELECT)
insert into storage.objects (bucket_id, name, owner, owner_id, metadata, version, user_metadata, id)
values ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, $8);

-- name: update_object
update storage.objects
set owner = $3, owner_id = $4, metadata = $5::jsonb, version = $6, user_metadata = $7::jsonb,
    updated_at = now(), last_accessed_at = now()
where bucket_id = $1 and name = $2
returning id;

-- name: move_object
-- $1 bucket, $2 name, $3 new bucket, $4 new name, $5 new version, $6 owner, $7 owner_id,
-- $8 the version whose bytes were copied (a row replaced meanwhile is not moved)
update storage.objects
set bucket_id = $3, name = $4, version = $5, owner = coalesce($6, owner),
    owner_id = coalesce($7, owner_id), updated_at = now()
where bucket_id = $1 and name = $2 and version = $8
returning id;

-- name: delete_objects
delete from storage.objects
where bucket_id = $1 and name = any($2::text[])
returning id, bucket_id, name, owner, owner_id, version, metadata, user_metadata,
          created_at, updated_at, last_accessed_at;

-- name: search_objects
-- $1 prefix (ends in '/' or empty), $2 bucket, $3 limit, $4 levels, $5 offset, $6 search,
-- $7 sort column, $8 sort order
select name, id, updated_at, created_at, last_accessed_at, metadata
from storage.search($1, $2, $3, $4, $5, $6, $7, $8);

-- name: list_objects_v2
-- $1 bucket, $2 prefix, $3 cursor (last key of the previous page), $4 with delimiter, $5 limit
with entries as (
    select case when $4 and strpos(substr(name, length($2) + 1), '/') > 0
                then $2 || split_part(substr(name, length($2) + 1), '/', 1) || '/'
                else name end as key,
           name, id, created_at, updated_at, last_accessed_at, metadata
    from storage.objects
    where bucket_id = $1 and starts_with(name, $2)
)
select key, bool_or(key <> name) as is_folder,
       (array_agg(id) filter (where key = name))[1] as id,
       max(created_at) as created_at, max(updated_at) as updated_at,
       max(last_accessed_at) as last_accessed_at,
       (array_agg(metadata) filter (where key = name))[1] as metadata
from entries
where key collate "C" > $3
group by key
order by key collate "C"
limit $5;

-- name: select_known_versions
select version from storage.objects where bucket_id = $1 and version = any($2::text[]);
