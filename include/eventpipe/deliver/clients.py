"""A destination's client from its Airflow Connection: an object store for S3, a sender for HEC, Heap and GA4."""

from __future__ import annotations

from typing import Any

from eventpipe.deliver.config import Destination


def object_store(destination: Destination, conn: Any):
    from eventpipe.deliver.s3 import LocalStore, S3Store

    conn_type = getattr(conn, "conn_type", None)
    if conn_type == "fs":
        path = (getattr(conn, "extra_dejson", None) or {}).get("path")
        if not path:
            raise ValueError(f"connection {destination.connection_id} (fs) has no extra 'path'")
        return LocalStore(path)
    if conn_type == "aws":
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        client = S3Hook(aws_conn_id=destination.connection_id).get_conn()
        return S3Store(client, destination.options.get("sse_kms_key_id"))
    raise ValueError(f"connection {destination.connection_id}: type {conn_type!r}; S3 needs 'aws' (or 'fs' locally)")


def endpoint_url(conn: Any) -> str:
    host = str(getattr(conn, "host", "") or "")
    if "://" in host:
        return host.rstrip("/")
    scheme = getattr(conn, "schema", None) or "https"
    port = getattr(conn, "port", None)
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def push_client(destination: Destination, conn: Any):
    options = destination.options
    url = endpoint_url(conn)
    if destination.type == "splunk_hec":
        from eventpipe.deliver.hec.client import HecClient

        token = getattr(conn, "password", None)
        if not token:
            raise ValueError(f"connection {destination.connection_id} has no password (the HEC token)")
        return HecClient(
            url,
            token,
            index=options["index"],
            source=options["source"],
            sourcetype=options["sourcetype"],
            host=options["host"],
            use_ack=options["ack"],
            max_batch_events=options["max_batch_events"],
            max_batch_bytes=options["max_batch_bytes"],
            ack_poll_s=options["ack_poll_seconds"],
            ack_timeout_s=options["ack_timeout_seconds"],
            max_retries=destination.max_retries,
        )
    if destination.type == "heap":
        from eventpipe.deliver.heap import HeapClient

        return HeapClient(url, options["app_id"], max_retries=destination.max_retries)
    if destination.type == "ga4":
        from eventpipe.deliver.ga4 import Ga4Client

        return Ga4Client(
            url,
            options["measurement_id"],
            getattr(conn, "password", None) or "",
            validate=options["validate"],
            max_retries=destination.max_retries,
        )
    raise ValueError(f"unknown destination type {destination.type}")
