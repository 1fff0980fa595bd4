-- Loads that registered their load tables before %(before)s and never dropped them: their loader died.
-- noqa: disable=PRS
select
    token,
    holder,
    started_at
from ops.load_in_progress
where started_at < %(before)s
order by started_at;
