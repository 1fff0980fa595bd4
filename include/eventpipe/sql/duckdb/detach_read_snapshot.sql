detach snapshot;
