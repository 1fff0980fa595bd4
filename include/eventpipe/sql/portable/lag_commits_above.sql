-- The load commits above $bound (the last dbt build's bound, 0 before any): how many, and when the oldest was
-- committed (the loader's clock: information for the lag, never a handover).
select
    count(*) as commits_waiting,
    min(committed_at) as oldest_committed_at
from ops.load_commit
where commit_seq > $bound;
