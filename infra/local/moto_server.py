"""moto in server mode, with requests applied one at a time: the local AWS of `make dev`, the e2e stack and every test.

Plain `moto_server` is a threaded WSGI server, and its DynamoDB backend checks a write's condition and applies the
write as two steps with no lock between them. Two concurrent `PutItem`s with `attribute_not_exists(pk)` on one new
item can then both pass, which real DynamoDB never allows (it serializes writes to an item). Tests of conditional
writes under concurrency (the replay storm, two versions of one record in one batch) would pass or fail by chance.

This launcher serves moto's own WSGI application behind one lock: a request's body is read in full first, then the
application runs and its response is collected under the lock, so no two requests interleave inside moto. The one
exception is SQS `ReceiveMessage`, which may long-poll for up to 20 s waiting for a message that only another
request can send: it runs outside the lock, as SQS receives are not conditional writes (SQS is at-least-once anyway).

    python infra/local/moto_server.py [-H 127.0.0.1] [-p 5000]

`tests/it/race.rs` (the Rust integration tests) proves the point: many concurrent conditional puts on one new item,
exactly one accepted. Against plain `moto_server` it fails.
"""

from __future__ import annotations

import argparse
import io
import signal
import sys
import threading
from typing import Any, Callable, Iterable

from werkzeug.serving import run_simple
from werkzeug.wsgi import get_input_stream

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

# Both SQS protocols: JSON (X-Amz-Target) and the older query protocol (Action=... in the form body).
SQS_RECEIVE_TARGET = "AmazonSQS.ReceiveMessage"
SQS_RECEIVE_FORM = b"Action=ReceiveMessage"


def is_sqs_receive(environ: dict[str, Any], body: bytes) -> bool:
    """Whether the request is an SQS ReceiveMessage (which may long-poll, so must not hold the lock)."""
    if environ.get("HTTP_X_AMZ_TARGET") == SQS_RECEIVE_TARGET:
        return True
    return body.startswith(SQS_RECEIVE_FORM) or b"&" + SQS_RECEIVE_FORM in body


class Serialized:
    """A WSGI middleware that runs the wrapped application for one request at a time (see the module's doc)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        # Read the whole body outside the lock: a slow sender must not hold up every other request.
        body = get_input_stream(environ).read()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input_terminated"] = False
        if is_sqs_receive(environ, body):
            return self.run(environ, start_response)
        with self.lock:
            return self.run(environ, start_response)

    def run(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """Runs the application and collects its whole response, so that nothing of it runs after the lock."""
        result = self.app(environ, start_response)
        try:
            return [b"".join(result)]
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()


def make_app() -> Serialized:
    """moto's server application (every service, dispatched by host and headers), serialized."""
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # type: ignore[attr-defined]
    return Serialized(app)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-H", "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("-p", "--port", type=int, default=5000, help="port to bind (default 5000)")
    args = parser.parse_args(argv)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: sys.exit(0))
    run_simple(args.host, args.port, make_app(), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
