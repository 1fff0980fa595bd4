-- Which of the given landing files ($urls) the ledger already holds.
select source_file
from ops.loaded_file
where source_file in (select unnest($urls));
