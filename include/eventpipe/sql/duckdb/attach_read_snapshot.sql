-- The read snapshot being written ($path: a new file beside the published one), attached as `snapshot`.
attach $path as snapshot;
