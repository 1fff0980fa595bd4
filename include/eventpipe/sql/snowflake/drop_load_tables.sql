-- The load tables of one load ({token}), once its rows are merged (or its attempt failed: a retry stages anew).
drop table if exists raw.session_event_stage_{token};
drop table if exists raw.audit_event_stage_{token};
drop table if exists raw.platform_event_stage_{token};
drop table if exists raw.quarantined_event_stage_{token};
