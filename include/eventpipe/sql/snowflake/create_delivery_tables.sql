-- The delivery ledger. Idempotent: run before every delivery.
-- One row per destination, organization, kind, interval and part: a re-run skips parts already delivered
-- (with the same checksum) and resends the rest.
create schema if not exists ops;

create table if not exists ops.delivery (
    destination varchar not null,
    destination_type varchar not null,
    organization_id varchar not null,
    kind varchar not null,  -- Session (App Events) | Audit | analytics
    interval_start timestamp_ntz not null,
    part varchar not null,
    target varchar,  -- the object key, or the endpoint path
    -- delivered: every event of the part delivered or dead-lettered (accounted for); failed: retry it
    status varchar not null,
    events bigint not null,
    delivered bigint not null,
    dead_lettered bigint not null,
    bytes bigint not null,
    attempts bigint not null,  -- requests (or PUTs), summed over every run
    -- events resent while an earlier copy may have landed (a lost answer, an ack timeout): at most this many
    -- duplicates at a destination that does not deduplicate (HEC, GA4); summed over every run
    possible_duplicates bigint not null default 0,
    ack_ids varchar,  -- JSON list of HEC ackIds
    checksum varchar not null,  -- sha256 of the object (S3) or of the part's sorted event ids
    delivered_ids varchar,  -- JSON list, kept only while a part is partly delivered, so a retry skips them
    error varchar,
    run_id varchar,
    updated_at timestamp_ntz not null
);

-- Events a destination refused as invalid (HEC codes 5-7, 12, 13; GA4 / Heap validation): never resent as is.
create table if not exists ops.delivery_dead_letter (
    destination varchar not null,
    event_id varchar not null,
    organization_id varchar not null,
    kind varchar not null,
    interval_start timestamp_ntz not null,
    part varchar not null,
    code varchar,
    reason varchar not null,
    recorded_at timestamp_ntz not null
);
