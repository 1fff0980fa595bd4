-- Rows per raw event table.
select
    'raw.session_event' as table_name,
    count(*) as row_count
from raw.session_event
union all
select
    'raw.audit_event' as table_name,
    count(*) as row_count
from raw.audit_event
union all
select
    'raw.platform_event' as table_name,
    count(*) as row_count
from raw.platform_event;
