-- Landing files quarantined whole and not loaded since (a fixed copy loaded later leaves this count).
select count(distinct quarantined_file.source_file) as files_quarantined
from ops.quarantined_file
where quarantined_file.source_file not in (select loaded_file.source_file from ops.loaded_file);
