-- The arrival-hour intervals the loader ledgered in [$range_start, $range_end), oldest first (redeliver).
select distinct loaded_file.interval_start
from ops.loaded_file
where loaded_file.interval_start >= $range_start and loaded_file.interval_start < $range_end  -- noqa: LXR, PRS
order by loaded_file.interval_start;
