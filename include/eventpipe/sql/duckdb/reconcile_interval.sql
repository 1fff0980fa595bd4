-- Per landing file of an interval: what the ledger says, and what the raw and quarantine tables hold.
-- Parameter: $interval_start.
WITH ledger AS (
    SELECT *
    FROM ops.loaded_file
    WHERE interval_start = $interval_start
),

kept AS (
    SELECT _source_file AS source_file, count(*) AS rows
    FROM (
        SELECT _source_file FROM raw.session_event
        UNION ALL
        SELECT _source_file FROM raw.audit_event
        UNION ALL
        SELECT _source_file FROM raw.platform_event
    )
    WHERE _source_file IN (SELECT source_file FROM ledger)
    GROUP BY 1
),

quarantined AS (
    SELECT source_file, count(*) AS rows
    FROM raw.quarantined_event
    WHERE source_file IN (SELECT source_file FROM ledger)
    GROUP BY 1
)

SELECT
    ledger.source_file,
    ledger.lines,
    ledger.loaded,
    ledger.duplicates,
    ledger.quarantined,
    coalesce(kept.rows, 0) AS rows_in_raw,
    coalesce(quarantined.rows, 0) AS rows_in_quarantine
FROM ledger
LEFT JOIN kept USING (source_file)
LEFT JOIN quarantined USING (source_file)
ORDER BY ledger.source_file;
