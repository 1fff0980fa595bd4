-- Rows a load or a replay (its _batch_id) put in each raw table. Parameter: $batch_id.
select
    'session' as kind,
    count(*) as row_count
from raw.session_event
where _batch_id = $batch_id
union all
select
    'audit' as kind,
    count(*) as row_count
from raw.audit_event
where _batch_id = $batch_id
union all
select
    'platform' as kind,
    count(*) as row_count
from raw.platform_event
where _batch_id = $batch_id;
