"""Shared fixtures of the local-stack tests: an in-process moto server, and timings printed after the run."""

from __future__ import annotations

import pathlib
import socket
import sys

import boto3
import pytest

LOCAL = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(LOCAL))

TIMINGS: list[tuple[str, float]] = []


def record_timing(what: str, seconds: float) -> None:
    """Adds a line to the timings printed at the end of the run."""
    TIMINGS.append((what, seconds))
    print(f"[timing] {what}: {seconds:.1f} s", flush=True)


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.section("timings")
        for what, seconds in TIMINGS:
            terminalreporter.write_line(f"{seconds:8.1f} s  {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def stack():
    """The end-to-end tests' local stack (test_e2e.run_stack), started once for every module that uses it: starting
    it is the slow part of the run."""
    import test_e2e

    yield from test_e2e.run_stack()


@pytest.fixture(scope="session")
def moto_url():
    """A moto server in this process, on a free loopback port, serialized like the stack's (moto_server.py)."""
    import threading

    from werkzeug.serving import make_server

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from moto_server import make_app

    server = make_server("127.0.0.1", free_port(), make_app(), threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def session(moto_url):
    """Something with .client(service) aimed at the moto server."""
    base = boto3.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")

    class Session:
        @staticmethod
        def client(service):
            return base.client(service, endpoint_url=moto_url)

    return Session
