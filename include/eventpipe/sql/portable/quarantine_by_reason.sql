-- Quarantined lines per reason code, most frequent first.
select
    reason,
    count(*) as line_count
from raw.quarantined_event
group by reason
order by line_count desc, reason asc;
