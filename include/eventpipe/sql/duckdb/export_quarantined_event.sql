-- A staged group's quarantined lines as they go to Snowflake's load stage (Parquet; raw_line as bytes).
-- AM04: `*` on purpose, every column of the raw table (Snowflake matches them by name).
select *  -- noqa: AM04
from raw.quarantined_event;
