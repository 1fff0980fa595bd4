"""Ingest: extract landing files, validate each line, load the new events, reconcile, replay."""
