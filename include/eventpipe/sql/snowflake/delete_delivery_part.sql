-- The first half of replacing a part's ledger row inside a transaction (the emulator cannot MERGE in one): its key,
-- positional (executemany), as eventpipe.deliver.ledger.PART_KEY orders it.
delete from ops.delivery_part
where
    destination = ?
    and organization_id = ?
    and kind = ?
    and commit_seq = ?
    and interval_start = ?::timestamp_ntz
    and part = ?;
