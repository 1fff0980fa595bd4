-- A staged group's new Session events as they go to Snowflake's load stage (Parquet): JSON as text,
-- parsed back into VARIANT by the MERGE (sql/snowflake/merge_session_event.sql).
-- AM04: `*` on purpose, every column of the raw table (Snowflake matches them by name).
select
    *  -- noqa: AM04
    replace (
        payload::varchar as payload,
        custom_metric_value::varchar as custom_metric_value,
        analytics_event_properties::varchar as analytics_event_properties
    )
from raw.session_event;
