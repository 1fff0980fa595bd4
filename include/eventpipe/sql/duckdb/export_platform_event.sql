-- A staged group's new Platform events as they go to Snowflake's load stage (Parquet): the payload as
-- text, parsed back into VARIANT by the MERGE (sql/snowflake/merge_platform_event.sql).
-- AM04: `*` on purpose, every column of the raw table (Snowflake matches them by name).
select * replace (payload::varchar as payload)  -- noqa: AM04
from raw.platform_event;
