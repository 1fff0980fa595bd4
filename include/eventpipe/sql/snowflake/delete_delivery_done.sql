-- The first half of replacing a unit's done row inside a transaction: its key, positional.
delete from ops.delivery_done
where
    destination = ?
    and organization_id = ?
    and kind = ?
    and commit_seq = ?
    and interval_start = ?::timestamp_ntz;
