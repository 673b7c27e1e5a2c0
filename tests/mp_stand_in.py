"""A local HTTP server on 127.0.0.1 that answers like the Materials Project API, for the entry and band-gap clients.

It speaks the routes mp-api uses (read from mp_api/client/core/client.py and routes/materials/*.py):
``GET /heartbeat``, then ``GET /materials/<route>/?...`` with the key in ``X-API-KEY`` ->
``{"data": [...], "meta": {"total_doc": n}}``. Each test module says what documents each route serves.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlparse

import pytest

from ssbkit.results import jsonable

API_KEY = "k" * 32

#: route ("/materials/thermo") -> function of the query parameters -> the documents to answer with
Routes = dict[str, Callable[[dict[str, str]], list[dict]]]


class MPStandIn(http.server.ThreadingHTTPServer):
    requests: list[tuple[str, dict]]  # (path without trailing slash, query) of every request, in order


def _handler(routes: Routes, status: int) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server API)
            url = urlparse(self.path)
            path = url.path.rstrip("/")
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            self.server.requests.append((path, query))
            if path == "/heartbeat":
                return self._send(200, {"db_version": "2025.09.25", "version": "0.86.3",
                                        "access_controlled_batch_ids": []})
            if self.headers.get("X-API-KEY") != API_KEY:
                return self._send(401, {"detail": "invalid API key"})
            if status != 200:
                return self._send(status, {"detail": "server error"})
            if path not in routes:
                return self._send(404, {"detail": "not found"})
            docs = routes[path](query)
            self._send(200, {"data": docs, "meta": {"total_doc": len(docs)}})

        def _send(self, code: int, body: dict) -> None:
            data = json.dumps(jsonable(body), allow_nan=False).encode()  # NaN is not JSON; MP sends null
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler


def stand_in_fixture(routes: Callable[[], Routes]) -> Callable[[], Iterator]:
    """A pytest fixture serving ``routes()``; it yields ``start(status=200) -> (endpoint, server)``."""

    @pytest.fixture
    def fake_mp():
        servers = []

        def start(status: int = 200):
            server = MPStandIn(("127.0.0.1", 0), _handler(routes(), status))
            server.requests = []
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            servers.append(server)
            return f"http://127.0.0.1:{server.server_address[1]}/", server

        yield start
        for server in servers:
            server.shutdown()
            server.server_close()

    return fake_mp
