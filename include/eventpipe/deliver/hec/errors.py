"""The HEC client's errors: leaves of the one delivery error tree (``eventpipe.deliver.transport``), named for
the endpoint so a ledger row or a task log says which destination refused."""

from __future__ import annotations

from eventpipe.deliver.transport import DeliveryAuthError, DeliveryProtocolError, DeliveryUnavailableError


class HecAuthError(DeliveryAuthError):
    """401/403: the token is missing, wrong, disabled or revoked."""


class HecProtocolError(DeliveryProtocolError):
    """Client and endpoint disagree (channel, acknowledgement, an unexpected status)."""


class HecUnavailableError(DeliveryUnavailableError):
    """Transient failures outlasted ``max_retries``."""
