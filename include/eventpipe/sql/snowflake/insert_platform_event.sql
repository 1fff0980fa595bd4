-- The staged group's new Platform events into raw.platform_event, numbered $commit_seq: an event_id already kept by any
-- earlier commit (this hour's earlier groups, any earlier hour, a load that committed first) is not inserted
-- again. Runs inside the load commit's transaction, after it took its number (eventpipe.warehouse.commits), so the
-- NOT EXISTS checks see every earlier commit and no other writer can insert the same event_id meanwhile.
-- Dedup in O(new), one event-time window at a time (the loader runs this once per window of the group,
-- validate.new_event_windows): the staged rows whose event_time lies in the window's core (core_start up to,
-- not including, core_end: the whole days of one island of the group's event days) are checked against history
-- read only in window_start to window_end (the core give or take a day; a re-sent event keeps its eventTime, so
-- its earlier copy lies within). The raw tables are clustered by event date, so Snowflake prunes every
-- micro-partition outside the window.
insert into raw.platform_event (
    event_id, organization_id, event_time, event_type, app_id, service, service_version, status, message,
    connection_id, group_id, duration_millis, payload, _source_file, _line_number, _batch_id, _loaded_at,
    _commit_seq
)
select
    staged.event_id,
    staged.organization_id,
    staged.event_time,
    staged.event_type,
    staged.app_id,
    staged.service,
    staged.service_version,
    staged.status,
    staged.message,
    staged.connection_id,
    staged.group_id,
    staged.duration_millis,
    parse_json(staged.payload) as payload,
    staged._source_file,
    staged._line_number,
    staged._batch_id,
    staged._loaded_at,
    $commit_seq as _commit_seq
from raw.platform_event_stage_{token} as staged
-- an event_id is one event whatever its kind: kept already as another kind, it is a duplicate too
where
    staged.event_time >= $core_start and staged.event_time < $core_end
    and not exists (
        select 1 from raw.platform_event
        where
            platform_event.event_id = staged.event_id
            and platform_event.event_time between $window_start and $window_end
    )
    and not exists (
        select 1 from raw.session_event
        where
            session_event.event_id = staged.event_id
            and session_event.event_time between $window_start and $window_end
    )
    and not exists (
        select 1 from raw.audit_event
        where
            audit_event.event_id = staged.event_id
            and audit_event.event_time between $window_start and $window_end
    );
