-- A staged group's quarantined lines as they go to Snowflake's load stage (Parquet; raw_line as bytes).
select *
from raw.quarantined_event;
