-- What became of each staged file's lines: loaded, duplicate (a valid copy of an event already kept) or quarantined.
SELECT
    staged_line.source_file,
    count(*) AS lines,
    count(new_event.line_number) AS loaded,
    count(*) FILTER (WHERE staged_line.reason IS NULL) - count(new_event.line_number) AS duplicates,
    count(*) FILTER (WHERE staged_line.reason IS NOT NULL) AS quarantined
FROM staged_line
LEFT JOIN new_event USING (source_file, line_number)
GROUP BY staged_line.source_file
ORDER BY staged_line.source_file;
