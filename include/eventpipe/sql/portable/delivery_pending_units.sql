-- The units a destination has not received whole yet, oldest commit first: every ops.load_commit_unit row of the
-- kinds it takes ($kinds: a comma-separated list, e.g. ',Session,Audit,') up to commit $through, without a done row
-- for $destination. Organizations are filtered by the caller (a destination lists them, or takes all).
select
    unit.commit_seq,
    unit.organization_id,
    unit.kind,
    unit.interval_start,
    unit.events
from ops.load_commit_unit as unit
where
    unit.commit_seq <= $through
    and contains($kinds, ',' || unit.kind || ',')
    and not exists (
        select 1 from ops.delivery_done as done
        where
            done.destination = $destination
            and done.commit_seq = unit.commit_seq
            and done.organization_id = unit.organization_id
            and done.kind = unit.kind
            and done.interval_start = unit.interval_start
    )
order by unit.commit_seq, unit.organization_id, unit.kind, unit.interval_start;
