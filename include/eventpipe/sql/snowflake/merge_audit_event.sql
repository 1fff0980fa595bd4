-- The staged group's new Audit events into raw.audit_event: an event_id already loaded by any earlier
-- load (this hour's earlier groups, a crashed attempt, any earlier hour) is not inserted again.
-- Dedup in O(new), one event-time window at a time (the loader runs this once per window of the group,
-- validate.new_event_windows): the staged rows whose event_time lies in the window's core (core_start up to,
-- not including, core_end: the whole days of one island of the group's event days) are checked against history
-- read only in window_start to window_end (the core give or take a day; a re-sent event keeps its eventTime, so
-- its earlier copy lies within). The raw tables are clustered by event date, so Snowflake prunes every
-- micro-partition outside the window, in the join and in NOT EXISTS.
merge into raw.audit_event as existing
using (
    select
        event_id,
        organization_id,
        event_time,
        event_type,
        app_id,
        user_id,
        email,
        resource_type,
        resource_id,
        login_type,
        domain,
        role_id,
        api_key_id,
        parse_json(payload) as payload,
        _source_file,
        _line_number,
        _batch_id,
        _loaded_at
    from raw.audit_event_stage_{token} as audit_event_stage
    -- an event_id is one event whatever its kind: kept already as another kind, it is a duplicate too
    where
        event_time >= $core_start and event_time < $core_end
        and not exists (
            select 1 from raw.session_event
            where
                session_event.event_id = audit_event_stage.event_id
                and session_event.event_time between $window_start and $window_end
        )
        and not exists (
            select 1 from raw.platform_event
            where
                platform_event.event_id = audit_event_stage.event_id
                and platform_event.event_time between $window_start and $window_end
        )
) as staged
    on
        existing.event_id = staged.event_id
        and existing.event_time between $window_start and $window_end
when not matched then insert (
    event_id, organization_id, event_time, event_type, app_id, user_id, email, resource_type,
    resource_id, login_type, domain, role_id, api_key_id, payload, _source_file, _line_number,
    _batch_id, _loaded_at
) values (
    staged.event_id, staged.organization_id, staged.event_time, staged.event_type, staged.app_id,
    staged.user_id, staged.email, staged.resource_type, staged.resource_id, staged.login_type,
    staged.domain, staged.role_id, staged.api_key_id, staged.payload, staged._source_file,
    staged._line_number, staged._batch_id, staged._loaded_at
);
