-- The first half of replacing a part's ledger row inside a transaction (the emulator cannot MERGE in one): the
-- row's leading columns, positional (executemany), which hold its key (destination_type goes with destination).
delete from ops.delivery_part
where
    destination = ?
    and destination_type = ?
    and organization_id = ?
    and kind = ?
    and commit_seq = ?
    and interval_start = ?::timestamp_ntz
    and part = ?;
