-- Which of the given landing files the ledger already holds. Parameter: $urls, a JSON array of URLs.
select source_file
from ops.loaded_file
where source_file in (
    select landing_file.value::varchar
    from table(flatten(input => parse_json($urls))) as landing_file
);
