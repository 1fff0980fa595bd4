-- Every unit of the kinds $kinds (',Session,analytics,') whose arrival hour is in [$range_start, $range_end), oldest
-- first (the redeliver DAG's resend).
select
    unit.commit_seq,
    unit.organization_id,
    unit.kind,
    unit.interval_start,
    unit.events
from ops.load_commit_unit as unit
where
    unit.interval_start >= cast($range_start as timestamp without time zone)
    and unit.interval_start < cast($range_end as timestamp without time zone)
    and contains($kinds, ',' || unit.kind || ',')
order by unit.commit_seq, unit.organization_id, unit.kind, unit.interval_start;
