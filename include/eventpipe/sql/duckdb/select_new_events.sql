-- Which valid staged lines are new events: the first copy of each event_id in this batch
-- (earliest file, then line), and only if no earlier batch loaded that event_id into any raw table.
create or replace temp table new_event as
with first_copy as (
    select
        source_file,
        line_number,
        event_id
    from staged_line
    where reason is null
    qualify row_number() over (partition by event_id order by source_file, line_number) = 1
),

history as (
    select event_id from raw.session_event
    union all
    select event_id from raw.audit_event
    union all
    select event_id from raw.platform_event
)

select
    first_copy.source_file,
    first_copy.line_number
from first_copy
anti join history on first_copy.event_id = history.event_id;
