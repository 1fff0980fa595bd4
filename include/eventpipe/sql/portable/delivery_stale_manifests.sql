-- The organization hours of an S3 destination whose manifest is missing or older than an object delivered for them
-- (a run that died between a unit's done row and the hour's manifest), with the last commit among their objects.
-- Parameters: $destination.
with objects as (
    select
        organization_id,
        interval_start,
        max(commit_seq) as commit_seq
    from ops.delivery_part
    where
        destination = $destination
        and kind <> 'manifest'
        and status = 'delivered'
        and delivered > 0
    group by organization_id, interval_start
),

manifests as (
    select
        organization_id,
        interval_start,
        max(commit_seq) as commit_seq
    from ops.delivery_part
    where destination = $destination and kind = 'manifest' and status = 'delivered'
    group by organization_id, interval_start
)

select
    objects.organization_id,
    objects.interval_start,
    objects.commit_seq
from objects
left join manifests
    on
        objects.organization_id = manifests.organization_id
        and objects.interval_start = manifests.interval_start
where manifests.commit_seq is null or manifests.commit_seq < objects.commit_seq
order by objects.organization_id, objects.interval_start;
