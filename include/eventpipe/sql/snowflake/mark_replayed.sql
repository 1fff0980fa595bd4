-- A quarantined line the replay found valid (loaded, or a duplicate of an event already kept) leaves the
-- quarantine count; its row stays, marked with the replay's batch. Positional: batch_id, source_file, line.
-- noqa: disable=PRS,LT01,LT02
update raw.quarantined_event
set replayed_batch_id = %s
where source_file = %s and line_number = %s and replayed_batch_id is null;
