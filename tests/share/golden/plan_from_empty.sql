CREATE DATABASE IF NOT EXISTS EVENTPIPE_SHARE;

CREATE SCHEMA IF NOT EXISTS EVENTPIPE_SHARE.SHARE_PRIVATE;

CREATE SCHEMA IF NOT EXISTS EVENTPIPE_SHARE.SHARE;

CREATE TABLE IF NOT EXISTS EVENTPIPE_SHARE.SHARE_PRIVATE.SHARING_ACCESS (
    organization_id VARCHAR NOT NULL,
    snowflake_account VARCHAR NOT NULL,
    pii_allowed BOOLEAN NOT NULL,
    PRIMARY KEY (organization_id, snowflake_account)
);

INSERT INTO EVENTPIPE_SHARE.SHARE_PRIVATE.SHARING_ACCESS (organization_id, snowflake_account, pii_allowed) VALUES
    ('org-a1', 'ACME_ANALYTICS', FALSE),
    ('org-a2', 'ACME_ANALYTICS', FALSE),
    ('org-g1', 'GLOBEX_BI', TRUE);

CREATE OR REPLACE SECURE VIEW EVENTPIPE_SHARE.SHARE.SESSION_EVENT
    COPY GRANTS
    COMMENT = 'eventpipe share view SESSION_EVENT, definition sha256:f5b8a54ef188156a'
AS
SELECT
    src.organization_id AS ORGANIZATION_ID,
    src.event_id AS EVENT_ID,
    CAST(src.event_time AS TIMESTAMP_NTZ) AS EVENT_TIME,
    YEAR(src.event_time) AS EVENT_YEAR,
    CAST(DATE_TRUNC('MONTH', src.event_time) AS DATE) AS EVENT_MONTH,
    CAST(src.event_time AS DATE) AS EVENT_DATE,
    src.app_id AS APP_ID,
    src.branch_id AS BRANCH_ID,
    src.deploy_id AS DEPLOY_ID,
    src.session_id AS SESSION_ID,
    src.event_type AS EVENT_TYPE,
    src.actor_id AS ACTOR_ID,
    src.channel_id AS CHANNEL_ID,
    src.flow_id AS FLOW_ID,
    src.activity_id AS ACTIVITY_ID,
    src.source_runtime AS SOURCE_RUNTIME,
    src.source_detail AS SOURCE_DETAIL,
    CASE WHEN COALESCE(src.device_class, src.browser, src.os) IS NOT NULL THEN OBJECT_CONSTRUCT_KEEP_NULL('deviceClass', src.device_class, 'browser', src.browser, 'os', src.os) END AS USER_AGENT,
    src.screen_width AS SCREEN_WIDTH,
    src.screen_height AS SCREEN_HEIGHT,
    src.status AS STATUS,
    src.code AS CODE,
    src.message AS MESSAGE,
    src.duration_millis AS DURATION_MILLIS,
    src.action_id AS ACTION_ID,
    src.action_name AS ACTION_NAME,
    CASE WHEN src.custom_metric_key IS NOT NULL THEN OBJECT_CONSTRUCT_KEEP_NULL('key', src.custom_metric_key, 'field', src.custom_metric_field, 'value', src.custom_metric_value) END AS CUSTOM_METRICS,
    src.analytics_event_name AS APP_EVENT_NAME,
    src.analytics_event_properties AS APP_EVENT_PROPERTIES
FROM ANALYTICS.MARTS.fct_session_events AS src
INNER JOIN EVENTPIPE_SHARE.SHARE_PRIVATE.SHARING_ACCESS AS sa
    ON sa.organization_id = src.organization_id
WHERE sa.snowflake_account = CURRENT_ACCOUNT();

CREATE OR REPLACE SECURE VIEW EVENTPIPE_SHARE.SHARE.AUDIT_EVENT
    COPY GRANTS
    COMMENT = 'eventpipe share view AUDIT_EVENT, definition sha256:a21decab6fbb4036'
AS
SELECT
    src.organization_id AS ORGANIZATION_ID,
    src.event_id AS EVENT_ID,
    CAST(src.event_time AS TIMESTAMP_NTZ) AS EVENT_TIME,
    YEAR(src.event_time) AS EVENT_YEAR,
    CAST(DATE_TRUNC('MONTH', src.event_time) AS DATE) AS EVENT_MONTH,
    CAST(src.event_time AS DATE) AS EVENT_DATE,
    src.event_type AS EVENT_TYPE,
    src.user_id AS USER_ID,
    CASE WHEN sa.pii_allowed THEN src.email WHEN src.email IS NOT NULL THEN '***MASKED***' END AS EMAIL,
    src.app_id AS APP_ID,
    src.resource_type AS RESOURCE_TYPE,
    src.resource_id AS RESOURCE_ID,
    src.domain AS DOMAIN,
    src.api_key_id AS API_KEY_ID,
    src.role_id AS ROLE_ID,
    src.login_type AS LOGIN_TYPE
FROM ANALYTICS.MARTS.fct_audit_events AS src
INNER JOIN EVENTPIPE_SHARE.SHARE_PRIVATE.SHARING_ACCESS AS sa
    ON sa.organization_id = src.organization_id
WHERE sa.snowflake_account = CURRENT_ACCOUNT();

CREATE OR REPLACE SECURE VIEW EVENTPIPE_SHARE.SHARE.PLATFORM_EVENT
    COPY GRANTS
    COMMENT = 'eventpipe share view PLATFORM_EVENT, definition sha256:91796c0b971d79d5'
AS
SELECT
    src.organization_id AS ORGANIZATION_ID,
    src.event_id AS EVENT_ID,
    CAST(src.event_time AS TIMESTAMP_NTZ) AS EVENT_TIME,
    YEAR(src.event_time) AS EVENT_YEAR,
    CAST(DATE_TRUNC('MONTH', src.event_time) AS DATE) AS EVENT_MONTH,
    CAST(src.event_time AS DATE) AS EVENT_DATE,
    src.app_id AS APP_ID,
    src.event_type AS EVENT_TYPE,
    src.status AS STATUS,
    src.message AS MESSAGE,
    src.service AS SERVICE,
    src.service_version AS SERVICE_VERSION,
    src.connection_id AS CONNECTION_ID,
    src.group_id AS GROUP_ID,
    src.duration_millis AS DURATION_MILLIS
FROM ANALYTICS.MARTS.fct_platform_events AS src
INNER JOIN EVENTPIPE_SHARE.SHARE_PRIVATE.SHARING_ACCESS AS sa
    ON sa.organization_id = src.organization_id
WHERE sa.snowflake_account = CURRENT_ACCOUNT();

CREATE OR REPLACE SECURE VIEW EVENTPIPE_SHARE.SHARE.SESSION_SUMMARY
    COPY GRANTS
    COMMENT = 'eventpipe share view SESSION_SUMMARY, definition sha256:ae5ab0a6e0712b3e'
AS
SELECT
    src.organization_id AS ORGANIZATION_ID,
    src.session_id AS SESSION_ID,
    src.app_id AS APP_ID,
    src.branch_id AS BRANCH_ID,
    src.deploy_id AS DEPLOY_ID,
    CAST(src.started_at AS TIMESTAMP_NTZ) AS FIRST_EVENT_TIME,
    YEAR(src.started_at) AS FIRST_EVENT_YEAR,
    CAST(DATE_TRUNC('MONTH', src.started_at) AS DATE) AS FIRST_EVENT_MONTH,
    CAST(src.started_at AS DATE) AS FIRST_EVENT_DATE,
    CAST(src.last_event_at AS TIMESTAMP_NTZ) AS LAST_EVENT_TIME,
    CAST(src.started_at AS TIMESTAMP_NTZ) AS START_EVENT_TIME,
    CAST(src.ended_at AS TIMESTAMP_NTZ) AS END_EVENT_TIME,
    src.actions_fired AS ACTIONS_FIRED,
    src.event_count AS EVENTS_OCCURRED,
    src.action_runs AS ACTION_RUNS,
    src.action_errors AS ACTION_ERRORS,
    src.runtime_errors AS RUNTIME_ERRORS,
    src.messages_sent AS MESSAGES_SENT,
    src.messages_received AS MESSAGES_RECEIVED,
    CASE WHEN src.device_class IS NOT NULL THEN OBJECT_CONSTRUCT_KEEP_NULL('deviceClass', src.device_class) END AS USER_AGENT,
    CASE WHEN src.csat_score IS NOT NULL THEN OBJECT_CONSTRUCT_KEEP_NULL('CSAT', src.csat_score) END AS CUSTOM_METRICS,
    src.status AS STATUS,
    src.duration_ms AS DURATION_MILLIS
FROM ANALYTICS.MARTS.fct_sessions AS src
INNER JOIN EVENTPIPE_SHARE.SHARE_PRIVATE.SHARING_ACCESS AS sa
    ON sa.organization_id = src.organization_id
WHERE sa.snowflake_account = CURRENT_ACCOUNT();

CREATE OR REPLACE SECURE VIEW EVENTPIPE_SHARE.SHARE.CUSTOM_METRIC_FIELD_EVENT
    COPY GRANTS
    COMMENT = 'eventpipe share view CUSTOM_METRIC_FIELD_EVENT, definition sha256:9e847cb3f1ec4fab'
AS
SELECT
    src.organization_id AS ORGANIZATION_ID,
    src.event_id AS EVENT_ID,
    CAST(src.event_time AS TIMESTAMP_NTZ) AS EVENT_TIME,
    YEAR(src.event_time) AS EVENT_YEAR,
    CAST(DATE_TRUNC('MONTH', src.event_time) AS DATE) AS EVENT_MONTH,
    CAST(src.event_time AS DATE) AS EVENT_DATE,
    src.app_id AS APP_ID,
    src.session_id AS SESSION_ID,
    src.metric_key AS CUSTOM_METRIC_KEY,
    src.metric_field AS CUSTOM_METRIC_FIELD_KEY,
    src.value_text AS FIELD_VALUE,
    src.value_number AS FIELD_VALUE_NUMBER
FROM ANALYTICS.MARTS.fct_custom_metric_values AS src
INNER JOIN EVENTPIPE_SHARE.SHARE_PRIVATE.SHARING_ACCESS AS sa
    ON sa.organization_id = src.organization_id
WHERE sa.snowflake_account = CURRENT_ACCOUNT();

CREATE OR REPLACE SECURE VIEW EVENTPIPE_SHARE.SHARE.CUSTOM_SESSION_METRIC
    COPY GRANTS
    COMMENT = 'eventpipe share view CUSTOM_SESSION_METRIC, definition sha256:201d0f51058dacc7'
AS
SELECT
    src.organization_id AS ORGANIZATION_ID,
    src.app_id AS APP_ID,
    src.session_id AS SESSION_ID,
    src.metric_key AS CUSTOM_METRIC_KEY,
    src.metric_field AS CUSTOM_METRIC_FIELD_KEY,
    src.count_count AS COUNT_COUNT,
    src.statistic_sum AS STATISTIC_SUM,
    src.statistic_minimum AS STATISTIC_MINIMUM,
    src.statistic_maximum AS STATISTIC_MAXIMUM,
    src.statistic_first AS STATISTIC_FIRST,
    src.statistic_last AS STATISTIC_LAST,
    src.field_first AS FIELD_FIRST,
    src.field_last AS FIELD_LAST,
    CAST(src.first_event_time AS TIMESTAMP_NTZ) AS FIRST_EVENT_TIME,
    CAST(src.first_event_time AS DATE) AS FIRST_EVENT_DATE,
    CAST(src.last_event_time AS TIMESTAMP_NTZ) AS LAST_EVENT_TIME
FROM (
    SELECT
        organization_id,
        app_id,
        session_id,
        metric_key,
        metric_field,
        COUNT(*) AS count_count,
        SUM(value_number) AS statistic_sum,
        MIN(value_number) AS statistic_minimum,
        MAX(value_number) AS statistic_maximum,
        MAX(CASE WHEN first_rank = 1 THEN value_number END) AS statistic_first,
        MAX(CASE WHEN last_rank = 1 THEN value_number END) AS statistic_last,
        MAX(CASE WHEN first_rank = 1 THEN value_text END) AS field_first,
        MAX(CASE WHEN last_rank = 1 THEN value_text END) AS field_last,
        MIN(event_time) AS first_event_time,
        MAX(event_time) AS last_event_time
    FROM (
        SELECT
            organization_id,
            app_id,
            session_id,
            metric_key,
            metric_field,
            value_number,
            value_text,
            event_time,
            ROW_NUMBER() OVER (
                PARTITION BY organization_id, app_id, session_id, metric_key, metric_field
                ORDER BY event_time, event_id
            ) AS first_rank,
            ROW_NUMBER() OVER (
                PARTITION BY organization_id, app_id, session_id, metric_key, metric_field
                ORDER BY event_time DESC, event_id DESC
            ) AS last_rank
        FROM ANALYTICS.MARTS.fct_custom_metric_values
        WHERE session_id IS NOT NULL
    ) AS ranked
    GROUP BY organization_id, app_id, session_id, metric_key, metric_field
) AS src
INNER JOIN EVENTPIPE_SHARE.SHARE_PRIVATE.SHARING_ACCESS AS sa
    ON sa.organization_id = src.organization_id
WHERE sa.snowflake_account = CURRENT_ACCOUNT();

CREATE SHARE EVENTPIPE_SHARE COMMENT = 'eventpipe: per-consumer secure views (docs/querying-the-share.md)';

GRANT USAGE ON DATABASE EVENTPIPE_SHARE TO SHARE EVENTPIPE_SHARE;

GRANT USAGE ON SCHEMA EVENTPIPE_SHARE.SHARE TO SHARE EVENTPIPE_SHARE;

GRANT REFERENCE_USAGE ON DATABASE ANALYTICS TO SHARE EVENTPIPE_SHARE;

GRANT SELECT ON VIEW EVENTPIPE_SHARE.SHARE.AUDIT_EVENT TO SHARE EVENTPIPE_SHARE;

GRANT SELECT ON VIEW EVENTPIPE_SHARE.SHARE.CUSTOM_METRIC_FIELD_EVENT TO SHARE EVENTPIPE_SHARE;

GRANT SELECT ON VIEW EVENTPIPE_SHARE.SHARE.CUSTOM_SESSION_METRIC TO SHARE EVENTPIPE_SHARE;

GRANT SELECT ON VIEW EVENTPIPE_SHARE.SHARE.PLATFORM_EVENT TO SHARE EVENTPIPE_SHARE;

GRANT SELECT ON VIEW EVENTPIPE_SHARE.SHARE.SESSION_EVENT TO SHARE EVENTPIPE_SHARE;

GRANT SELECT ON VIEW EVENTPIPE_SHARE.SHARE.SESSION_SUMMARY TO SHARE EVENTPIPE_SHARE;

ALTER SHARE EVENTPIPE_SHARE ADD ACCOUNTS = ACME_ANALYTICS, GLOBEX_BI;
