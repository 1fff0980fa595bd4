-- Validate one chunk of lines (the registered Arrow table `line_chunk`) into staged_line.
-- Parameters: $source_file, $interval_start, $interval_end (the arrival hour, UTC).
-- Reason codes, first that applies (tests/unit/test_validate.py has one case per code):
--   invalid_utf8, empty_line, invalid_json, not_an_object, missing_required_field,
--   invalid_field_type, unknown_kind, invalid_event_time, event_time_out_of_range
INSERT INTO staged_line
WITH decoded AS (
    SELECT
        line_number,
        raw_line,
        rtrim(try(decode(raw_line)), chr(13)) AS line_text
    FROM line_chunk
),

parsed AS (
    SELECT
        *,
        CASE WHEN json_valid(line_text) THEN json_type(line_text) END AS root_type
    FROM decoded
),

fields AS (
    SELECT
        *,
        -- One parse each for all the types and all the values of the envelope fields:
        -- [1] eventId, [2] organizationId, [3] eventTime, [4] kind, [5] type, [6] appId, [7] sessionId
        CASE WHEN root_type = 'OBJECT' THEN json_type(
            line_text,
            ['$.eventId', '$.organizationId', '$.eventTime', '$.kind', '$.type', '$.appId', '$.sessionId']
        ) END AS t,
        CASE WHEN root_type = 'OBJECT' THEN json_extract_string(
            line_text,
            ['$.eventId', '$.organizationId', '$.eventTime', '$.kind', '$.type', '$.appId', '$.sessionId']
        ) END AS v
    FROM parsed
),

checked AS (
    SELECT
        *,
        list_transform(
            list_zip(t, v),
            lambda x: x[1] IS NULL OR x[1] = 'NULL' OR (x[1] = 'VARCHAR' AND trim(x[2]) = '')
        ) AS absent,
        CASE
            -- Epoch milliseconds: a non-negative whole number (json_type says BIGINT only when negative).
            WHEN t[3] = 'UBIGINT' THEN try(epoch_ms(v[3]::BIGINT))
            WHEN t[3] = 'DOUBLE' AND try_cast(v[3] AS DOUBLE) >= 0
                AND try_cast(v[3] AS DOUBLE) = floor(try_cast(v[3] AS DOUBLE))
                THEN try(epoch_ms(try_cast(v[3] AS DOUBLE)::BIGINT))
            WHEN t[3] = 'VARCHAR' AND regexp_full_match(v[3], '[0-9]{1,15}') THEN try(epoch_ms(v[3]::BIGINT))
            WHEN t[3] = 'VARCHAR' AND regexp_full_match(
                v[3],
                '[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)'
            ) THEN try_cast(v[3] AS TIMESTAMPTZ)::TIMESTAMP
        END AS parsed_event_time
    FROM fields
),

judged AS (
    SELECT
        *,
        CASE
            WHEN line_text IS NULL THEN 'invalid_utf8'
            WHEN regexp_full_match(line_text, '\s*') THEN 'empty_line'
            WHEN root_type IS NULL THEN 'invalid_json'
            WHEN root_type <> 'OBJECT' THEN 'not_an_object'
            WHEN list_bool_or(absent[1:5]) THEN 'missing_required_field'
            WHEN t[4] = 'VARCHAR' AND v[4] = 'Session' AND (absent[6] OR absent[7]) THEN 'missing_required_field'
            WHEN t[1] <> 'VARCHAR' OR t[2] <> 'VARCHAR' OR t[4] <> 'VARCHAR' OR t[5] <> 'VARCHAR'
                OR t[3] NOT IN ('VARCHAR', 'UBIGINT', 'BIGINT', 'DOUBLE') THEN 'invalid_field_type'
            WHEN v[4] = 'Session' AND (t[6] <> 'VARCHAR' OR t[7] <> 'VARCHAR') THEN 'invalid_field_type'
            WHEN v[4] NOT IN ('Session', 'Audit', 'Platform') THEN 'unknown_kind'
            WHEN parsed_event_time IS NULL THEN 'invalid_event_time'
            WHEN parsed_event_time < $interval_start - INTERVAL 366 DAY
                OR parsed_event_time > $interval_end + INTERVAL 24 HOUR THEN 'event_time_out_of_range'
        END AS reason
    FROM checked
)

SELECT
    $source_file AS source_file,
    line_number,
    CASE WHEN reason IS NOT NULL THEN raw_line END AS raw_line,
    line_text,
    reason,
    CASE reason
        WHEN 'invalid_utf8' THEN 'not valid UTF-8; raw_line holds the original bytes'
        WHEN 'empty_line' THEN 'empty or whitespace-only line'
        WHEN 'invalid_json' THEN 'not parseable as JSON'
        WHEN 'not_an_object' THEN 'top-level JSON ' || lower(root_type) || ', not an object'
        WHEN 'missing_required_field' THEN 'missing or empty: ' || array_to_string(
            list_filter(
                ['eventId', 'organizationId', 'eventTime', 'kind', 'type', 'appId', 'sessionId'],
                lambda name, i: absent[i] AND (i <= 5 OR v[4] = 'Session')
            ),
            ', '
        )
        WHEN 'invalid_field_type' THEN 'wrong JSON types: ' || array_to_string(
            list_filter(
                ['eventId', 'organizationId', 'eventTime', 'kind', 'type', 'appId', 'sessionId'],
                lambda name, i: (i <= 5 OR v[4] = 'Session')
                AND CASE WHEN i = 3 THEN t[i] NOT IN ('VARCHAR', 'UBIGINT', 'BIGINT', 'DOUBLE') ELSE t[i] <> 'VARCHAR' END
            ),
            ', '
        )
        WHEN 'unknown_kind' THEN 'kind ' || v[4]
        WHEN 'invalid_event_time' THEN 'eventTime ' || left(v[3], 64)
        WHEN 'event_time_out_of_range' THEN 'eventTime ' || strftime(parsed_event_time, '%Y-%m-%dT%H:%M:%SZ')
    END AS detail,
    CASE WHEN reason IS NULL THEN v[1] END AS event_id,
    CASE WHEN reason IS NULL THEN v[4] END AS kind,
    CASE WHEN reason IS NULL THEN parsed_event_time END AS event_time
FROM judged
