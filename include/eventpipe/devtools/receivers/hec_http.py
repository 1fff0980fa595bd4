"""The HEC receiver's HTTP side: route, then token, then size, all on the headers; only then is the body read (at
most the limit) and handed to ``HecReceiver.handle``. Only the path is logged, never the query string or headers."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from eventpipe.deliver.hec import ACK_PATHS, EVENT_PATHS, HEALTH_PATHS, RAW_PATHS
from eventpipe.devtools.receivers.body import BodyTooLarge, BodyUnreadable, check_length, read_body
from eventpipe.devtools.receivers.hec_events import TOO_LARGE, Request, hec_reply
from eventpipe.devtools.receivers.server import Handler, Reply

if TYPE_CHECKING:
    from eventpipe.devtools.receivers.hec import HecReceiver

log = logging.getLogger("eventpipe.devtools.receivers.hec")  # the receiver's own log, as before the split

_POST_ROUTES = {
    **dict.fromkeys(EVENT_PATHS, "event"),
    **dict.fromkeys(RAW_PATHS, "raw"),
    **dict.fromkeys(ACK_PATHS, "ack"),
}
_GET_ROUTES = dict.fromkeys(HEALTH_PATHS, "health")
_NOT_FOUND = {"text": "The requested URL was not found on this server.", "code": 404}


class HecHandler(Handler):
    """Serves a ``HecReceiver`` (``server.owner``); answers ``application/json; charset=UTF-8``, always a body."""

    server_version = "eventpipe-hec"
    content_type = "application/json; charset=UTF-8"

    def do_POST(self) -> None:
        self._serve(_POST_ROUTES)

    def do_GET(self) -> None:
        self._serve(_GET_ROUTES)

    def _serve(self, routes: dict[str, str]) -> None:
        receiver: HecReceiver = self.server.owner
        url = urlsplit(self.path)
        endpoint = routes.get(url.path.rstrip("/"))
        if endpoint is None:
            self.answer_unread(Reply(404, dict(_NOT_FOUND)))
            return
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        request = Request(endpoint, self.headers, query, b"", self.client_address[0])
        request.max_decompressed_bytes = receiver.max_decompressed_bytes
        if endpoint != "health":
            refusal = receiver.authenticate(request)
            if refusal is not None:
                self.answer_unread(refusal)
                return
        try:
            check_length(self.headers, receiver.max_body_bytes)
            request.body = read_body(self.rfile, self.headers, receiver.max_body_bytes)
        except BodyTooLarge:
            self.answer_unread(receiver.refused(request, Reply(413, dict(TOO_LARGE))))
            return
        except BodyUnreadable:
            self.answer_unread(receiver.refused(request, hec_reply(6)))
            return
        reply = receiver.handle(request)
        if reply.dropped:
            self.reset()
        else:
            self.answer(reply)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The path only: no query string, no headers, so nothing secret reaches the log.
        log.debug("HEC %s %s -> %s", self.command, urlsplit(self.path).path, code)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("HEC receiver: " + format, *args)
