-- The tables readers query (the explorer, a BI tool): every mart, and the ledger of load batches the explorer
-- links a session's events to. Copied into the read snapshot after each build.
select
    table_schema,
    table_name
from information_schema.tables
where
    table_catalog = current_database()
    and (table_schema = 'marts' or (table_schema = 'ops' and table_name = 'load_batch'))
order by table_schema, table_name;
