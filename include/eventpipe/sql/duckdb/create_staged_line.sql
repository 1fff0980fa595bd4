-- Per-load scratch table: every line of the batch's new files, validated. Dropped with the transaction's end.
CREATE OR REPLACE TEMP TABLE staged_line (
    source_file VARCHAR NOT NULL,
    line_number BIGINT NOT NULL,
    raw_line BLOB,           -- kept only for quarantined lines
    line_text VARCHAR,       -- the decoded line (NULL when it is not UTF-8)
    reason VARCHAR,          -- NULL when valid
    detail VARCHAR,
    event_id VARCHAR,
    kind VARCHAR,
    event_time TIMESTAMP
);
