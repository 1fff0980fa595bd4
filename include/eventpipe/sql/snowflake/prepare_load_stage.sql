-- Empty the load tables before a group: whatever a crashed attempt left there is discarded (its
-- MERGEs, if any ran, are idempotent, and its ledger rows were never written).
truncate table raw.session_event_stage;
truncate table raw.audit_event_stage;
truncate table raw.platform_event_stage;
truncate table raw.quarantined_event_stage;
