-- The first half of replacing a dead letter inside a transaction: its key (destination, event id), positional.
delete from ops.delivery_dead_letter
where destination = ? and event_id = ?;
