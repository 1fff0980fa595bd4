-- Loads that registered their load tables before $before and never dropped them: their loader died.
select
    token,
    holder,
    started_at
from ops.load_in_progress
where started_at < $before
order by started_at;
