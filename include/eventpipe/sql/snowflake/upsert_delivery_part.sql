-- The second half of replacing a part's ledger row (delete_delivery_part.sql first). Positional parameters
-- (executemany), in the order of the columns below (eventpipe.deliver.ledger.PartRecord, in field order).
insert into ops.delivery_part (
    destination, destination_type, organization_id, kind, commit_seq, interval_start, part, status, events,
    delivered, dead_lettered, first_event_id, last_event_id, target, channel, ack_ids, bytes, attempts,
    possible_duplicates, checksum, delivered_ids, error, run_id, updated_at
)
values (?, ?, ?, ?, ?, ?::timestamp_ntz, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::timestamp_ntz);
