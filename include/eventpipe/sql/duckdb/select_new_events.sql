-- Which valid staged lines are new events: the first copy of each event_id in this batch
-- (earliest file, then line), and only if no earlier batch loaded that event_id into any raw table.
CREATE OR REPLACE TEMP TABLE new_event AS
WITH first_copy AS (
    SELECT
        source_file,
        line_number,
        event_id
    FROM staged_line
    WHERE reason IS NULL
    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY source_file, line_number) = 1
),

history AS (
    SELECT event_id FROM raw.session_event
    UNION ALL
    SELECT event_id FROM raw.audit_event
    UNION ALL
    SELECT event_id FROM raw.platform_event
)

SELECT
    first_copy.source_file,
    first_copy.line_number
FROM first_copy
ANTI JOIN history ON first_copy.event_id = history.event_id;
