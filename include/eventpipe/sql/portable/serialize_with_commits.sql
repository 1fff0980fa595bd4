-- The first statement of a transaction that must not run beside another of its kind (a delivery claim taken or
-- renewed): it updates the commit sequence's row without changing it, which no other transaction can do before this
-- one ends (eventpipe.warehouse.commits). Held for milliseconds.
update ops.load_sequence
set last_value = last_value
where sequence_name = 'load_commit';
