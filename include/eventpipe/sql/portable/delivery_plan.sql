-- What a destination holds of the units of the arrival hours in [$range_start, $range_end) of the kinds $kinds
-- (',Session,Audit,'): per unit, its events, those the ledger says were delivered or dead-lettered, and whether the
-- unit is done (the redeliver DAG's dry run). Parameters: $destination, $kinds, $range_start, $range_end.
with sent as (
    select
        organization_id,
        kind,
        commit_seq,
        interval_start,
        sum(case when status = 'delivered' then delivered else 0 end) as delivered,
        sum(dead_lettered) as dead_lettered
    from ops.delivery_part
    where destination = $destination and kind <> 'manifest'
    group by organization_id, kind, commit_seq, interval_start
)

select
    unit.organization_id,
    unit.kind,
    unit.commit_seq,
    unit.interval_start,
    unit.events,
    coalesce(sent.delivered, 0) as delivered,
    coalesce(sent.dead_lettered, 0) as dead_lettered,
    done.commit_seq is not null as done
from ops.load_commit_unit as unit
left join sent
    on
        unit.organization_id = sent.organization_id
        and unit.kind = sent.kind
        and unit.commit_seq = sent.commit_seq
        and unit.interval_start = sent.interval_start
left join ops.delivery_done as done
    on
        done.destination = $destination
        and unit.organization_id = done.organization_id
        and unit.kind = done.kind
        and unit.commit_seq = done.commit_seq
        and unit.interval_start = done.interval_start
where
    unit.interval_start >= cast($range_start as timestamp without time zone)
    and unit.interval_start < cast($range_end as timestamp without time zone)
    and contains($kinds, ',' || unit.kind || ',')
order by unit.organization_id, unit.kind, unit.commit_seq, unit.interval_start;
