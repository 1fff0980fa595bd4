-- The staged group's quarantined lines, once per (file, line): a re-run after a crash adds no second copy.
merge into raw.quarantined_event as existing
using (
    select
        raw_line,
        reason,
        detail,
        source_file,
        line_number,
        batch_id,
        quarantined_at,
        replayed_batch_id
    from raw.quarantined_event_stage_{token}
) as staged
    on existing.source_file = staged.source_file and existing.line_number = staged.line_number
when not matched then insert (
    raw_line, reason, detail, source_file, line_number, batch_id, quarantined_at,
    replayed_batch_id
) values (
    staged.raw_line, staged.reason, staged.detail, staged.source_file, staged.line_number,
    staged.batch_id, staged.quarantined_at, staged.replayed_batch_id
);
