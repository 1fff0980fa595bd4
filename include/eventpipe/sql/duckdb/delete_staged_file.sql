-- Forget what was staged of a file that could not be read to its end: none of its lines load.
-- Parameter: $source_file.
delete from staged_line
where source_file = $source_file;
