-- The data API's catalog queries: what the schema cache holds, per exposed schema.
-- Types are printed with an empty search_path so they are always schema-qualified.

-- name: select_schemas
select nspname as name from pg_namespace where nspname = any($1::text[]);

-- name: select_relations
select n.nspname as schema, c.relname as name, c.relkind::text as kind,
       obj_description(c.oid, 'pg_class') as description,
       coalesce((select array_agg(a.attname::text order by array_position(i.indkey::int2[], a.attnum))
                 from pg_index i
                 join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
                 where i.indrelid = c.oid and i.indisprimary), '{}') as pk,
       coalesce((select array_agg(array_to_string(array(
                     select a.attname::text from unnest(i.indkey) with ordinality k(n, o)
                     join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.n
                     order by k.o), ','))
                 from pg_index i where i.indrelid = c.oid and i.indisunique), '{}') as unique_keys
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any($1::text[]) and c.relkind in ('r', 'v', 'm', 'f', 'p');

-- name: select_columns
select n.nspname as schema, c.relname as relation, a.attname as name,
       c.oid::int8 as relid, a.attnum::int4 as attnum,
       pg_catalog.format_type(a.atttypid, a.atttypmod) as type,
       t.typcategory::text as category,
       not a.attnotnull as nullable,
       pg_get_expr(d.adbin, d.adrelid) as default_expr,
       (a.attidentity <> '' or a.attgenerated <> '') as generated,
       col_description(c.oid, a.attnum) as description
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
join pg_type t on t.oid = a.atttypid
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
where n.nspname = any($1::text[]) and c.relkind in ('r', 'v', 'm', 'f', 'p')
  and a.attnum > 0 and not a.attisdropped
order by n.nspname, c.relname, a.attnum;

-- name: select_foreign_keys
-- Foreign keys whose referencing table is in an exposed schema ($1), or from or to one of the
-- relations $2 (tables of other schemas behind exposed views).
select con.conname as name, n1.nspname as schema, c1.relname as relation,
       array(select a.attname::text from unnest(con.conkey) with ordinality k(n, o)
             join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.n
             order by k.o) as columns,
       n2.nspname as ref_schema, c2.relname as ref_relation,
       array(select a.attname::text from unnest(con.confkey) with ordinality k(n, o)
             join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.n
             order by k.o) as ref_columns
from pg_constraint con
join pg_class c1 on c1.oid = con.conrelid
join pg_namespace n1 on n1.oid = c1.relnamespace
join pg_class c2 on c2.oid = con.confrelid
join pg_namespace n2 on n2.oid = c2.relnamespace
where con.contype = 'f'
  and (n1.nspname = any($1::text[])
       or con.conrelid = any($2::int8[]::oid[]) or con.confrelid = any($2::int8[]::oid[]))
order by con.conname;

-- name: select_functions
select n.nspname as schema, p.proname as name, p.proretset as returns_set,
       p.provolatile::text as volatility, p.pronargdefaults as defaults,
       pg_catalog.format_type(p.prorettype, null) as return_type,
       rt.typtype::text as return_kind,
       coalesce((select json_agg(json_build_object(
                    'name', coalesce(p.proargnames[i], ''),
                    'type', pg_catalog.format_type(
                        coalesce(p.proallargtypes[i], p.proargtypes[i - 1]), null),
                    'mode', coalesce(p.proargmodes[i], 'i')) order by i)
                 from generate_series(1, coalesce(array_length(p.proallargtypes, 1),
                                                  p.pronargs)) i)::text, '[]') as params,
       (select json_agg(json_build_object(
                   'name', a.attname, 'type', pg_catalog.format_type(a.atttypid, a.atttypmod))
                   order by a.attnum)::text
        from pg_attribute a
        where rt.typrelid <> 0 and a.attrelid = rt.typrelid and a.attnum > 0
          and not a.attisdropped) as return_columns,
       obj_description(p.oid, 'pg_proc') as description,
       p.prorows as rows,
       (select array[rn.nspname::text, rc.relname::text] from pg_class rc
        join pg_namespace rn on rn.oid = rc.relnamespace
        where rc.oid = rt.typrelid) as return_relation,
       (select array[an.nspname::text, ac.relname::text] from pg_type at
        join pg_class ac on ac.oid = at.typrelid
        join pg_namespace an on an.oid = ac.relnamespace
        where p.pronargs = 1 and at.oid = p.proargtypes[0]) as arg_relation
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_type rt on rt.oid = p.prorettype
where n.nspname = any($1::text[]) and p.prokind = 'f';

-- name: clear_search_path
select set_config('search_path', '', true);

-- name: select_role_settings
-- Per-role settings (ALTER ROLE … SET) that a transaction may apply, database-specific last.
select r.rolname as role, split_part(c.item, '=', 1) as name,
       substr(c.item, strpos(c.item, '=') + 1) as value
from pg_db_role_setting s
join pg_roles r on r.oid = s.setrole
cross join lateral unnest(s.setconfig) as c(item)
join pg_settings p on p.name = split_part(c.item, '=', 1) and p.context = 'user'
where s.setdatabase in (0, (select oid from pg_database where datname = current_database()))
order by r.rolname, s.setdatabase;

-- name: select_view_actions
-- The parse tree of each exposed view's query (for view column lineage, `views.py`).
select c.oid::int8 as relid, r.ev_action::text as action
from pg_rewrite r
join pg_class c on c.oid = r.ev_class
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any($1::text[]) and c.relkind in ('v', 'm') and r.rulename = '_RETURN';

-- name: select_sources
-- Relations of other schemas that exposed views read: their column names and, for views,
-- their own parse tree (lineage goes on through them).
select c.oid::int8 as relid, n.nspname as schema, c.relname as name,
       (select r.ev_action::text from pg_rewrite r
        where r.ev_class = c.oid and r.rulename = '_RETURN') as action,
       array(select a.attnum::int4 from pg_attribute a
             where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
             order by a.attnum) as attnums,
       array(select a.attname::text from pg_attribute a
             where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
             order by a.attnum) as attnames
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.oid = any($1::int8[]::oid[]);

-- name: select_geojson_schema
-- Where PostGIS's ST_AsGeoJSON(record) lives, if it is installed (for application/geo+json).
select n.nspname as schema
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
where p.proname = 'st_asgeojson' and p.pronargs >= 1
  and p.proargtypes[0] = 'pg_catalog.record'::pg_catalog.regtype
  and p.prorettype = 'pg_catalog.text'::pg_catalog.regtype
order by n.nspname = 'extensions' desc, n.nspname
limit 1;

-- name: select_timezones
-- The zones `Prefer: timezone=` accepts.
select name from pg_timezone_names;
