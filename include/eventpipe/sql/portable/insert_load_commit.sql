-- The commit's own row, in the same transaction as its raw rows and ledger rows: visible exactly when they are.
insert into ops.load_commit (
    commit_seq, batch_id, commit_kind, files, lines, loaded, duplicates, quarantined, committed_at
)
values (
    $commit_seq, $batch_id, $commit_kind, $files, $lines, $loaded, $duplicates, $quarantined,
    cast($committed_at as timestamp without time zone)
);
