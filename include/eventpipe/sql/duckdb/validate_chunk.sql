-- Validate one chunk of lines (the registered Arrow table `line_chunk`) into staged_line.
-- Parameters: $source_file, $interval_start, $interval_end (the arrival hour, UTC), $max_line_bytes and
-- $max_depth (the limits the reader applied: eventpipe.ingest.linescan). `line_chunk` has line_number, raw_line,
-- line_bytes (the whole line's length), line_sha256 (set only when the line is over $max_line_bytes: raw_line
-- is then its prefix) and nesting_depth (set only when the line could be nested deeper than $max_depth).
-- Reason codes, first that applies (tests/ingest/test_validate.py has one case per code):
--   line_too_long, invalid_utf8, empty_line, invalid_json, too_deeply_nested, not_an_object,
--   missing_required_field, invalid_field_type, invalid_organization_id, unknown_kind, invalid_event_time,
--   event_time_out_of_range
-- (eventpipe.contract.LINE_REASON_CODES lists them in this order, for the generator and the tests.)
insert into staged_line
with decoded as (
    select
        line_number,
        raw_line,
        line_bytes,
        line_sha256,
        nesting_depth,
        case when line_sha256 is null then try(decode(raw_line)) end as decoded_text
    from line_chunk
),

trimmed as (
    select
        * exclude (decoded_text),
        -- rtrim only where there is a CR to remove: rtrim copies every string it is given
        case when suffix(decoded_text, chr(13)) then rtrim(decoded_text, chr(13)) else decoded_text end as line_text
    from decoded
),

parsed as (
    select
        *,
        -- The line's one full parse: a cast to JSON keeps the text as it is (the payload), NULL if not JSON.
        try_cast(line_text as json) as payload
    from trimmed
),

typed as (
    select
        *,
        -- The JSON types of the line itself and of the fields whose type matters:
        -- [1] the whole line, [2] eventId, [3] organizationId, [4] eventTime, [5] kind, [6] type,
        -- [7] appId, [8] sessionId, [9] customMetric.value, [10] analyticsEvent.properties
        case when payload is not null then json_type(
            payload,
            [
                '$', '$.eventId', '$.organizationId', '$.eventTime', '$.kind', '$.type', '$.appId', '$.sessionId',
                '$.customMetric.value', '$.analyticsEvent.properties'
            ]
        ) end as envelope_types
    from parsed
),

fields as (
    select
        *,
        envelope_types[1] as root_type,
        -- From here on t[i] / v[i] are the type / value of field i, eventId first. v holds, as text, every
        -- field any raw table keeps: one extraction for all kinds (a kind's insert reads its columns).
        case when envelope_types[1] = 'OBJECT' then envelope_types[2:] end as t,
        case when envelope_types[1] = 'OBJECT' then json_extract_string(
            payload,
            [
                '$.eventId', '$.organizationId', '$.eventTime', '$.kind', '$.type', '$.appId', '$.sessionId',
                '$.customMetric.value', '$.analyticsEvent.properties',
                -- [10] Session
                '$.branchId', '$.deployId', '$.actorId', '$.sourceRuntime', '$.sourceDetail', '$.channelId',
                '$.flowId', '$.activityId', '$.userAgent.deviceClass', '$.userAgent.browser', '$.userAgent.os',
                '$.screenWidth', '$.screenHeight', '$.durationMillis', '$.action.id', '$.action.name', '$.status',
                '$.code', '$.message', '$.customMetric.key', '$.customMetric.field', '$.analyticsEvent.event',
                -- [32] Audit
                '$.userId', '$.email', '$.resourceType', '$.resourceId', '$.loginType', '$.domain', '$.roleId',
                '$.apiKeyId',
                -- [40] Platform (and durationMillis, status and message above)
                '$.service', '$.serviceVersion', '$.connectionId', '$.groupId'
            ]
        ) end as v
    from typed
),

checked as (
    select
        *,
        list_transform(
            list_zip(t[1:7], v[1:7]),
            -- only spaces, as trim(x[2]) = '' says, without copying every value
            lambda x: x[1] is null or x[1] = 'NULL' or (x[1] = 'VARCHAR' and regexp_full_match(x[2], ' *'))
        ) as absent,
        case
            -- Epoch milliseconds: a non-negative whole number (json_type says BIGINT only when negative).
            when t[3] = 'UBIGINT' then try(epoch_ms(v[3]::bigint))
            when
                t[3] = 'DOUBLE' and try_cast(v[3] as double) >= 0
                and try_cast(v[3] as double) = floor(try_cast(v[3] as double))
                then try(epoch_ms(try_cast(v[3] as double)::bigint))
            when t[3] = 'VARCHAR' and regexp_full_match(v[3], '[0-9]{1,15}') then try(epoch_ms(v[3]::bigint))
            when t[3] = 'VARCHAR' and regexp_full_match(
                v[3],
                -- one regex literal: splitting it would change the SQL, not its layout
                '[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)'  -- noqa: LT05
            -- a lowercase z and a decimal comma are ISO-8601 too, and DuckDB's cast reads neither: normalised first
            ) then try_cast(translate(v[3], 'z,', 'Z.') as timestamptz)::timestamp
        end as parsed_event_time
    from fields
),

judged as (
    select
        *,
        case
            when line_sha256 is not null then 'line_too_long'
            when line_text is null then 'invalid_utf8'
            when regexp_full_match(line_text, '\s*') then 'empty_line'
            when root_type is null then 'invalid_json'
            when nesting_depth > $max_depth then 'too_deeply_nested'
            when root_type <> 'OBJECT' then 'not_an_object'
            when list_bool_or(absent[1:5]) then 'missing_required_field'
            when t[4] = 'VARCHAR' and v[4] = 'Session' and (absent[6] or absent[7]) then 'missing_required_field'
            when
                t[1] <> 'VARCHAR' or t[2] <> 'VARCHAR' or t[4] <> 'VARCHAR' or t[5] <> 'VARCHAR'
                or t[3] not in ('VARCHAR', 'UBIGINT', 'BIGINT', 'DOUBLE') then 'invalid_field_type'
            when v[4] = 'Session' and (t[6] <> 'VARCHAR' or t[7] <> 'VARCHAR') then 'invalid_field_type'
            -- the contract's organization id pattern (the share's): safe in a path, a key, an identifier
            when not regexp_full_match(v[2], '[A-Za-z0-9_-]{1,128}') then 'invalid_organization_id'
            when v[4] not in ('Session', 'Audit', 'Platform') then 'unknown_kind'
            when parsed_event_time is null then 'invalid_event_time'
            when
                parsed_event_time < $interval_start - interval 366 day
                or parsed_event_time > $interval_end + interval 24 hour then 'event_time_out_of_range'
        end as reason
    from checked
)

select
    $source_file as source_file,
    line_number,
    case when reason is not null then raw_line end as raw_line,
    reason,
    case reason
        when 'line_too_long'
            then
                'line of ' || line_bytes || ' bytes over the cap of ' || $max_line_bytes
                || ' bytes; sha256 ' || line_sha256 || '; raw_line holds its first ' || octet_length(raw_line)
                || ' bytes, the landing file the whole line'
        when 'invalid_utf8' then 'not valid UTF-8; raw_line holds the original bytes'
        when 'empty_line' then 'empty or whitespace-only line'
        when 'invalid_json' then 'not parseable as JSON'
        when 'too_deeply_nested'
            then 'JSON nested ' || nesting_depth || ' levels deep, over the cap of ' || $max_depth
        when 'not_an_object' then 'top-level JSON ' || lower(root_type) || ', not an object'
        -- list_filter with a two-parameter lambda (element, index) is beyond sqlfluff's DuckDB grammar
        -- (PRS, and LT01 misreads the call): the noqa comments below keep the linter to the rest.
        when 'missing_required_field'
            then 'missing or empty: ' || array_to_string(
                list_filter(  -- noqa: LT01
                    ['eventId', 'organizationId', 'eventTime', 'kind', 'type', 'appId', 'sessionId'],  -- noqa: PRS
                    lambda name, i: absent[i] and (i <= 5 or v[4] = 'Session')
                ),
                ', '
            )
        when 'invalid_field_type'
            then 'wrong JSON types: ' || array_to_string(
                list_filter(  -- noqa: LT01
                    ['eventId', 'organizationId', 'eventTime', 'kind', 'type', 'appId', 'sessionId'],  -- noqa: PRS
                    lambda name, i: (i <= 5 or v[4] = 'Session')
                    and case
                        when i = 3 then t[i] not in ('VARCHAR', 'UBIGINT', 'BIGINT', 'DOUBLE')
                        else t[i] <> 'VARCHAR'
                    end
                ),
                ', '
            )
        when 'invalid_organization_id'
            then 'organizationId ' || to_json(left(v[2], 64)) || ' is not [A-Za-z0-9_-]{1,128}'
        when 'unknown_kind' then 'kind ' || v[4]
        when 'invalid_event_time' then 'eventTime ' || left(v[3], 64)
        when 'event_time_out_of_range' then 'eventTime ' || strftime(parsed_event_time, '%Y-%m-%dT%H:%M:%SZ')
    end as detail,
    -- A valid line's fields, named as the raw tables name them (NULL for a quarantined line).
    case when reason is null then v[1] end as event_id,
    case when reason is null then v[4] end as kind,
    case when reason is null then parsed_event_time end as event_time,
    case when reason is null then v[2] end as organization_id,
    case when reason is null then v[5] end as event_type,
    case when reason is null then v[6] end as app_id,
    case when reason is null then v[7] end as session_id,
    case when reason is null then v[10] end as branch_id,
    case when reason is null then v[11] end as deploy_id,
    case when reason is null then v[12] end as actor_id,
    case when reason is null then v[13] end as source_runtime,
    case when reason is null then v[14] end as source_detail,
    case when reason is null then v[15] end as channel_id,
    case when reason is null then v[16] end as flow_id,
    case when reason is null then v[17] end as activity_id,
    case when reason is null then v[18] end as device_class,
    case when reason is null then v[19] end as browser,
    case when reason is null then v[20] end as os,
    -- Optional fields are cast leniently (a wrong type becomes NULL); the whole object stays in payload.
    case when reason is null then try_cast(v[21] as integer) end as screen_width,
    case when reason is null then try_cast(v[22] as integer) end as screen_height,
    case when reason is null then try_cast(v[23] as bigint) end as duration_millis,
    case when reason is null then v[24] end as action_id,
    case when reason is null then v[25] end as action_name,
    case when reason is null then v[26] end as status,
    case when reason is null then v[27] end as code,
    case when reason is null then v[28] end as message,
    case when reason is null then v[29] end as custom_metric_key,
    case when reason is null then v[30] end as custom_metric_field,
    -- JSON values: the text of a string is quoted again, any other value's text is its JSON already.
    case
        when reason is null and t[8] = 'VARCHAR' then to_json(v[8])
        when reason is null and t[8] = 'NULL' then 'null'::json
        when reason is null then v[8]::json
    end as custom_metric_value,
    case when reason is null then v[31] end as analytics_event_name,
    case
        when reason is null and t[9] = 'VARCHAR' then to_json(v[9])
        when reason is null and t[9] = 'NULL' then 'null'::json
        when reason is null then v[9]::json
    end as analytics_event_properties,
    case when reason is null then v[32] end as user_id,
    case when reason is null then v[33] end as email,
    case when reason is null then v[34] end as resource_type,
    case when reason is null then v[35] end as resource_id,
    case when reason is null then v[36] end as login_type,
    case when reason is null then v[37] end as domain,
    case when reason is null then v[38] end as role_id,
    case when reason is null then v[39] end as api_key_id,
    case when reason is null then v[40] end as service,
    case when reason is null then v[41] end as service_version,
    case when reason is null then v[42] end as connection_id,
    case when reason is null then v[43] end as group_id,
    case when reason is null then payload end as payload
from judged
