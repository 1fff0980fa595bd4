-- The last load commit (0 when nothing was loaded yet): what a stage can take up to, read once, so that every query
-- of the stage sees the same commits (all commits up to it are visible: they commit in number order).
select coalesce(max(commit_seq), 0) as commit_seq
from ops.load_commit;
