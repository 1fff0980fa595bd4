detach snapshot;  -- noqa: PRS
