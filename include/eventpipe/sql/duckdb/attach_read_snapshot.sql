-- The read snapshot being written ($path: a new file beside the published one), attached as `snapshot`.
-- (sqlfluff's DuckDB grammar has no ATTACH / DETACH: the two statements are DuckDB's own, checked by the tests.)
attach $path as snapshot;  -- noqa: PRS
