-- The staged group's quarantined lines, numbered $commit_seq, once per (file, line): a line a load that committed
-- first already quarantined is not added again. Runs inside the load commit's transaction.
insert into raw.quarantined_event (
    raw_line, reason, detail, source_file, line_number, batch_id, quarantined_at, replayed_batch_id, commit_seq
)
select
    staged.raw_line,
    staged.reason,
    staged.detail,
    staged.source_file,
    staged.line_number,
    staged.batch_id,
    staged.quarantined_at,
    staged.replayed_batch_id,
    $commit_seq as commit_seq
from raw.quarantined_event_stage_{token} as staged
where
    not exists (
        select 1 from raw.quarantined_event
        where
            quarantined_event.source_file = staged.source_file
            and quarantined_event.line_number = staged.line_number
    );
