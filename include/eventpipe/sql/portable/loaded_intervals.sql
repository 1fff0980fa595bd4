-- The arrival-hour intervals the loader ledgered in [$range_start, $range_end), oldest first (redeliver).
select distinct loaded_file.interval_start
from ops.loaded_file
where
    loaded_file.interval_start >= cast($range_start as timestamp without time zone)
    and loaded_file.interval_start < cast($range_end as timestamp without time zone)
order by loaded_file.interval_start;
