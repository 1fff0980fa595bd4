-- Per-load scratch table: every line of the batch's new files, validated. Dropped with the transaction's end.
create or replace temp table staged_line (
    source_file varchar not null,
    line_number bigint not null,
    raw_line blob,           -- kept only for quarantined lines
    line_text varchar,       -- the decoded line (NULL when it is not UTF-8)
    reason varchar,          -- NULL when valid
    detail varchar,
    event_id varchar,
    kind varchar,
    event_time timestamp
);
