-- The group's platform_event rows, PUT as Parquet under a folder of the group's own ({group_dir}: a random hex
-- name, so no file of another group or of a crashed attempt can be loaded with it), into this load's own load table.
copy into raw.platform_event_stage_{token}
from @raw.load_stage/{group_dir}/platform_event.parquet
file_format = (type = parquet)
match_by_column_name = case_insensitive
purge = true;
