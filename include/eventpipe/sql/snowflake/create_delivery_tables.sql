-- The delivery ledger (eventpipe.deliver.ledger). Idempotent: run before every delivery.
-- A unit of delivery is one ops.load_commit_unit row (a load commit's events of one organization, kind and arrival
-- hour); a destination's units are cut into parts, each the size the destination acknowledges at once (one HEC
-- batch on a channel of its own, one Heap or GA4 request, one S3 object), in an order that never changes, so a part
-- holds the same events on every run.
create schema if not exists ops;

-- One row per part, written before it is sent (sending: if the run dies now, the part is in doubt) and again as the
-- destination answers (accepted: HEC has it, its acknowledgement is awaited; delivered: every event delivered or
-- dead-lettered; failed: to send again).
create table if not exists ops.delivery_part (
    destination varchar not null,
    destination_type varchar not null,
    organization_id varchar not null,
    kind varchar not null,  -- Session (App Events) | Audit | analytics | manifest
    commit_seq number not null,
    interval_start timestamp_ntz not null,
    part number not null,
    status varchar not null,  -- sending | accepted | delivered | failed
    events number not null,
    delivered number not null,
    dead_lettered number not null,
    first_event_id varchar,
    last_event_id varchar,
    target varchar,  -- the object key, or the endpoint
    channel varchar,  -- HEC: the part's own request channel (its ackIds are the part's alone)
    ack_ids varchar,  -- HEC: JSON list of the ackIds the part's requests were given
    bytes number not null,
    attempts number not null,  -- requests (or PUTs), summed over every run
    -- events sent again while an earlier copy may have landed (a lost answer, a part in doubt after a crash): at most
    -- this many duplicates at a destination that does not deduplicate (HEC, GA4); summed over every run
    possible_duplicates number not null,
    checksum varchar,  -- sha256 of the object (S3) or of the part's event ids
    delivered_ids varchar,  -- JSON list, kept only while a part is partly delivered, so its retry skips them
    error varchar,
    run_id varchar,
    updated_at timestamp_ntz not null
);

-- One row per unit a destination has received whole (every part delivered or dead-lettered): what it takes next is
-- every unit without a row here (ops.load_commit_unit), never a time.
create table if not exists ops.delivery_done (
    destination varchar not null,
    organization_id varchar not null,
    kind varchar not null,
    commit_seq number not null,
    interval_start timestamp_ntz not null,
    parts number not null,
    events number not null,
    delivered number not null,
    dead_lettered number not null,
    run_id varchar,
    completed_at timestamp_ntz not null
);

-- Events a destination refused as invalid (HEC codes 5-7, 12, 13; GA4 / Heap validation), or that the run did not
-- send: too old for the destination (too_old_for_destination), not serialisable: never resent as they are.
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

alter table ops.delivery_dead_letter add column if not exists commit_seq number;

-- Which run is delivering to a destination: one at a time, so that two runs never send the same part. Taken and
-- renewed in a transaction serialized with the load commits (eventpipe.deliver.ledger.claim), expiring by the
-- warehouse's clock, not a worker's.
create table if not exists ops.delivery_claim (
    destination varchar not null,
    holder varchar not null,
    claimed_at timestamp_ntz not null,
    expires_at timestamp_ntz not null
);

-- The counter claims advance first (serialize_claims.sql): one claim taken at a time.
insert into ops.load_sequence (sequence_name, last_value)
select
    'delivery_claim' as sequence_name,
    0 as last_value
where
    not exists (
        select 1 from ops.load_sequence
        where sequence_name = 'delivery_claim'
    );
