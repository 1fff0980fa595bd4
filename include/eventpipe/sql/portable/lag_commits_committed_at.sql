-- When the load commit $commit_seq was committed (the loader's clock: information for the lag).
select committed_at
from ops.load_commit
where commit_seq = $commit_seq;
