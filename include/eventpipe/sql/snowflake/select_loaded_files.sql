-- Which of the given landing files the ledger already holds. Parameter: %(urls)s, a JSON array of URLs.
-- noqa: disable=PRS,LT01,LT02
select source_file
from ops.loaded_file
where source_file in (
    select landing_file.value::varchar
    from table(flatten(input => parse_json(%(urls)s))) as landing_file  -- noqa: RF02, RF03
);
