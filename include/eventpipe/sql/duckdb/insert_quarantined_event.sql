-- Quarantine the batch's invalid lines, original bytes and all. Parameters: $batch_id, $loaded_at.
INSERT INTO raw.quarantined_event
SELECT
    raw_line,
    reason,
    detail,
    source_file,
    line_number,
    $batch_id AS batch_id,
    $loaded_at AS quarantined_at,
    NULL AS replayed_batch_id
FROM staged_line
WHERE reason IS NOT NULL
ORDER BY source_file, line_number;
