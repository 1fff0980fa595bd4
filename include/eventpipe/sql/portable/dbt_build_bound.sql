-- The last load commit the latest dbt build took (its on-run-start bound).
select coalesce(max(commit_seq), 0) as commit_seq
from ops.dbt_build_bound;
