-- Forget what was staged of a file that could not be read to its end: none of its lines load.
-- Parameter: $source_file. (`$name`: see validate_chunk.sql for the noqa.)
delete from staged_line
where source_file = $source_file;  -- noqa: LXR, PRS
