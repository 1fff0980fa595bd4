-- The first half of replacing a part's ledger row inside a transaction (the emulator cannot MERGE in one): its key,
-- positional (executemany). SnowflakeWarehouse.upsert binds the row's leading columns, one per placeholder, and a
-- part's row (eventpipe.deliver.ledger.PartRecord) has destination_type second, before the rest of the key: it is
-- bound here too, and matches anything (it is not part of the key: the primary key DuckDB's replace uses).
delete from ops.delivery_part
where
    destination = ?
    and ? is not null
    and organization_id = ?
    and kind = ?
    and commit_seq = ?
    and interval_start = ?::timestamp_ntz
    and part = ?;
