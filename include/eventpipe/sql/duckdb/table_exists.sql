-- Whether $table_schema.$table_name exists (the marts do only after the first dbt build).
select count(*) > 0 as table_exists
from information_schema.tables
where table_schema = $table_schema and table_name = $table_name;
