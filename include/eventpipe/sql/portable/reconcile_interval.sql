-- Per landing file of an interval, or of a load batch: what the ledger says, and what the raw and quarantine tables
-- hold. Parameters: $interval_start (an arrival hour) and $batch_id (a load batch: when given, it is what is checked).
-- Lint exception below: ST07, the ledger and the counts share the `source_file` column by name.
with ledger as (
    select *
    from ops.loaded_file
    where
        ($batch_id is null and interval_start = cast($interval_start as timestamp without time zone))
        or batch_id = $batch_id
),

kept as (
    select
        raw_rows._source_file as source_file,
        count(*) as row_count
    from (
        select _source_file from raw.session_event
        union all
        select _source_file from raw.audit_event
        union all
        select _source_file from raw.platform_event
    ) as raw_rows
    where raw_rows._source_file in (select ledger.source_file from ledger)
    group by raw_rows._source_file
),

quarantined as (
    select
        quarantined_event.source_file,
        count(*) as row_count
    from raw.quarantined_event
    where
        quarantined_event.source_file in (select ledger.source_file from ledger)
        -- a replayed line is in raw now (or was a duplicate): counted there, not here
        and quarantined_event.replayed_batch_id is null
    group by quarantined_event.source_file
)

select
    ledger.source_file,
    ledger.lines,
    ledger.loaded,
    ledger.duplicates,
    ledger.quarantined,
    coalesce(kept.row_count, 0) as rows_in_raw,
    coalesce(quarantined.row_count, 0) as rows_in_quarantine
from ledger
left join kept using (source_file)  -- noqa: ST07
left join quarantined using (source_file)  -- noqa: ST07
order by ledger.source_file;
