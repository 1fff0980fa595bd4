-- One session's events in time order, each with the load attempt (Airflow DAG run and try) that
-- inserted it. A session is (organization_id, session_id): session ids are unique only within an
-- organization. Parameters: $organization_id, $session_id.
select
    session_events.event_id,
    session_events.event_type,
    session_events.event_time,
    session_events.action_name,
    session_events.status,
    session_events.code,
    session_events.message,
    session_events.custom_metric_key,
    session_events.custom_metric_field,
    coalesce(
        cast(custom_metric_values.value_number as varchar), custom_metric_values.value_text
    ) as custom_metric_value,
    session_events.duration_millis,
    session_events._batch_id as batch_id,
    load_batch.dag_id,
    load_batch.run_id,
    load_batch.interval_start
from marts.fct_session_events as session_events
left join marts.fct_custom_metric_values as custom_metric_values
    on session_events.event_id = custom_metric_values.event_id
left join ops.load_batch as load_batch
    on session_events._batch_id = load_batch.batch_id
where
    session_events.organization_id = $organization_id
    and session_events.session_id = $session_id
order by session_events.event_time asc, session_events.event_id asc
