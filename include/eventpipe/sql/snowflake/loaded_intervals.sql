-- The arrival-hour intervals the loader ledgered in [%(range_start)s, %(range_end)s), oldest first (redeliver).
select distinct loaded_file.interval_start
from ops.loaded_file
-- noqa: disable=PRS,LT02
where
    loaded_file.interval_start >= %(range_start)s::timestamp_ntz
    and loaded_file.interval_start < %(range_end)s::timestamp_ntz
order by loaded_file.interval_start;
