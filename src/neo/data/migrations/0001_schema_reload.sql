-- The data API's schema cache reloads when the schema changes: DDL notifies channel `pgrst`
-- with 'reload schema', exactly the message PostgREST listens for, so `NOTIFY pgrst` sent by
-- hand (or by tools written for PostgREST) works too. Event triggers need a superuser; without
-- one NEO still reloads on a manual NOTIFY.

create schema if not exists neo_data;
revoke all on schema neo_data from public;

create or replace function neo_data.notify_schema_reload() returns event_trigger
language plpgsql as $$
begin
    perform pg_notify('pgrst', 'reload schema');
end
$$;

do $$
begin
    if not exists (select from pg_event_trigger where evtname = 'neo_data_ddl_reload') then
        create event trigger neo_data_ddl_reload on ddl_command_end
            execute function neo_data.notify_schema_reload();
    end if;
    if not exists (select from pg_event_trigger where evtname = 'neo_data_drop_reload') then
        create event trigger neo_data_drop_reload on sql_drop
            execute function neo_data.notify_schema_reload();
    end if;
exception when insufficient_privilege then
    raise notice 'neo: no event trigger for schema reloads (needs a superuser): %', sqlerrm;
end
$$;
