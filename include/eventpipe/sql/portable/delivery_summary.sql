-- Per destination and kind: what the ledger says was delivered, for the demo summary.
select
    delivery.destination,
    delivery.destination_type,
    delivery.kind,
    count(*) as parts,
    sum(delivery.events) as events,
    sum(delivery.delivered) as delivered,
    sum(delivery.dead_lettered) as dead_lettered,
    count(case when delivery.status != 'delivered' then 1 end) as parts_not_delivered,
    sum(delivery.bytes) as bytes
from ops.delivery
group by delivery.destination, delivery.destination_type, delivery.kind
order by delivery.destination, delivery.kind;
