-- A quarantined line the replay found valid (loaded, or a duplicate of an event already kept) leaves the
-- quarantine count; its row stays, marked with the replay's batch. Positional: batch_id, source_file, line.
update raw.quarantined_event
set replayed_batch_id = ?
where source_file = ? and line_number = ? and replayed_batch_id is null;
