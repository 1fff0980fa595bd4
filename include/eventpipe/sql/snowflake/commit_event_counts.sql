-- Rows one load commit put in each raw table. Parameter: $commit_seq.
select
    'session' as kind,
    count(*) as row_count
from raw.session_event
where _commit_seq = $commit_seq
union all
select
    'audit' as kind,
    count(*) as row_count
from raw.audit_event
where _commit_seq = $commit_seq
union all
select
    'platform' as kind,
    count(*) as row_count
from raw.platform_event
where _commit_seq = $commit_seq;
