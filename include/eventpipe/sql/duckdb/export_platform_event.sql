-- A staged group's new Platform events as they go to Snowflake's load stage (Parquet): the payload as
-- text, parsed back into VARIANT by the MERGE (sql/snowflake/merge_platform_event.sql).
select * replace (payload::varchar as payload)
from raw.platform_event;
