-- Per destination and kind: what the ledger says was delivered, for the demo summary.
select
    delivery_part.destination,
    delivery_part.destination_type,
    delivery_part.kind,
    count(*) as parts,
    sum(delivery_part.events) as events,
    sum(delivery_part.delivered) as delivered,
    sum(delivery_part.dead_lettered) as dead_lettered,
    count(case when delivery_part.status != 'delivered' then 1 end) as parts_not_delivered,
    sum(delivery_part.bytes) as bytes
from ops.delivery_part
group by delivery_part.destination, delivery_part.destination_type, delivery_part.kind
order by delivery_part.destination, delivery_part.kind;
