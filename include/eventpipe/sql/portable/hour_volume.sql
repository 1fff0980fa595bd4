-- What landed in one arrival hour, by the ledgers: files loaded, their lines, and files quarantined whole (not
-- loaded since). check_volume compares an hour with the same hour a week earlier. Parameter: $interval_start.
with loaded as (
    select
        count(*) as files_loaded,
        coalesce(sum(loaded_file.lines), 0) as landed_lines
    from ops.loaded_file
    where loaded_file.interval_start = cast($interval_start as timestamp without time zone)
),

unreadable as (
    select count(distinct quarantined_file.source_file) as files_quarantined
    from ops.quarantined_file
    where
        quarantined_file.interval_start = cast($interval_start as timestamp without time zone)
        and quarantined_file.source_file not in (select loaded_file.source_file from ops.loaded_file)
)

select
    loaded.files_loaded,
    loaded.landed_lines,
    unreadable.files_quarantined
from loaded
cross join unreadable;
