"""Deliveries: the events of each loaded interval, sent to every destination an organization configured.

- ``config``: the destinations file (``config/destinations.example.yml`` for the local default) and its validation.
- ``events``: which events an interval holds (raw rows of the landing files ledgered for it) in the stream envelope.
- ``s3``: gzip NDJSON objects + a manifest per interval, through boto3 / the Amazon provider's S3Hook, or a local
  directory standing in for a bucket on the embedded default.
- ``eventpipe.deliver.hec.client``: Splunk HEC (App Events); ``heap`` / ``ga4``: analytics events.
- ``ledger``: ``ops.delivery``, one row per destination, organization, kind, interval and part.
- ``run``: deliver an interval (or resend a range) to every configured destination; one failing destination does
  not stop the others.
- ``receivers`` / ``local``: stand-ins for Heap and GA4, and the local receivers ``eventpipe run`` starts.

Credentials never appear in a file of this repository: each destination names an Airflow Connection id.
"""
