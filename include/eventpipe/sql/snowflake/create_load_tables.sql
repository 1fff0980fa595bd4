-- One load's own load tables ({token}: a random hex name), shaped like the templates in create_tables.sql, so
-- loaders running at once never read or empty each other's rows. Dropped after the load (drop_load_tables.sql).
create transient table raw.session_event_stage_{token} like raw.session_event_stage;
create transient table raw.audit_event_stage_{token} like raw.audit_event_stage;
create transient table raw.platform_event_stage_{token} like raw.platform_event_stage;
create transient table raw.quarantined_event_stage_{token} like raw.quarantined_event_stage;
