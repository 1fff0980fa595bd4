-- Every load commit, in number order.
select
    commit_seq,
    batch_id,
    commit_kind,
    files,
    lines,
    loaded,
    duplicates,
    quarantined,
    committed_at
from ops.load_commit
order by commit_seq;
