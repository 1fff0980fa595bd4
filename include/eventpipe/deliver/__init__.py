"""Deliveries: every load commit's events, sent once to every destination an organization configured.

- ``config``: the destinations file (``config/destinations.example.yml`` for the local default), its validation, and
  each destination's age window and parts in flight.
- ``ledger``: what each destination has taken: units (``ops.load_commit_unit``: a commit's events of one
  organization, kind and arrival hour) done (``ops.delivery_done``), parts as acknowledged (``ops.delivery_part``),
  dead letters, and the claim that lets one run at a time deliver to a destination.
- ``events``: a unit's events, streamed a chunk at a time, in the stream envelope.
- ``parts``: a unit cut into what a destination acknowledges at once; ``sending``: one part sent exactly once.
- ``s3``: gzip NDJSON objects through boto3 / the Amazon provider's S3Hook, or a local directory standing in for a
  bucket on the embedded default; ``manifests``: the manifest per organization and arrival hour.
- ``hec`` (``client``, ``delivery``, ``errors``): Splunk HEC (App Events); ``heap`` / ``ga4``: analytics events,
  both through ``json_sender``; ``transport``: the one HTTP transport (kept-alive
  connections, backoff); ``clients``: a destination's client from its Airflow Connection.
- ``run``: deliver what is pending (or resend a range) to every configured destination; one failing destination or
  organization does not stop the others; ``summary``: what a run reports. ``redeliver``: the redeliver DAG's
  parameters and dry run.

Credentials never appear in a file of this repository: each destination names an Airflow Connection id.
"""
