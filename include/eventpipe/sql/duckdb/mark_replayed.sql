-- Lines the replay found valid now (loaded, or a duplicate of an event already kept) leave the quarantine
-- count: their row stays, as the record of what was quarantined, marked with the replay's batch.
-- Parameter: $batch_id.
update raw.quarantined_event
set replayed_batch_id = $batch_id
from staged_line
where
    quarantined_event.source_file = staged_line.source_file
    and quarantined_event.line_number = staged_line.line_number
    and quarantined_event.replayed_batch_id is null
    and staged_line.reason is null;
