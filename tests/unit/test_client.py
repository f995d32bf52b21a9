"""The one loop that follows a prompt (`Client.follow`, `Client.execute`) against a stub ComfyUI with
a real websocket: the nodes that ran and those served from the cache, ComfyUI's own end order
(execution_success before the /history entry is stored), and the hooks the RunPod worker passes
for its liveness and time-limit checks."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from support.comfy_stub import WsComfy

from wan22.api.client import Client, SubmitError

TINY = {"1": {"class_type": "A", "inputs": {}}, "5": {"class_type": "Wan22MoESampler", "inputs": {}}}


def test_execute_names_the_nodes_that_ran_and_the_cached_ones() -> None:
    with WsComfy() as s:
        out = Client(s.url, timeout=10).execute(TINY, timeout=30)
    assert out.prompt_id == "pid-1" and out.entry["status"]["status_str"] == "success"
    assert out.executed == ("5",) and out.cached == ("1",)
    assert out.did_run("5") and not out.did_run("1")


def test_execute_without_a_websocket_says_which_nodes_ran_is_not_known(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Client, timeout: float = 10.0) -> Any:
        raise OSError("no websocket here")

    monkeypatch.setattr(Client, "connect_events", refuse)
    with WsComfy() as s:
        out = Client(s.url, timeout=10).execute(TINY, timeout=30)
    assert out.executed is None and out.cached == ("1",)  # the cache is in the /history entry
    with pytest.raises(ValueError, match="not known"):
        out.did_run("5")


def test_the_end_is_seen_soon_after_execution_success_in_comfyuis_own_order() -> None:
    """ComfyUI sends execution_success before it stores the /history entry; the loop must not wait
    for its next 2 s poll once the prompt said it ended."""
    with WsComfy(store_after=0.4) as s:
        c = Client(s.url, timeout=10)
        t0 = time.monotonic()
        out = c.execute(TINY, timeout=30)
        took = time.monotonic() - t0
    assert out.entry["status"]["completed"] is True
    assert took < 1.6, f"{took:.2f} s: the loop waited for a slow poll after execution_success"


def test_failed_polls_go_to_the_hook_with_the_silent_time() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: connections are refused
    seen: list[tuple[str, float]] = []

    class Lost(Exception):
        pass

    def on_poll_error(err: Exception, silent: float) -> None:
        seen.append((type(err).__name__, silent))
        if len(seen) == 3:
            raise Lost()

    with pytest.raises(Lost):
        Client(f"http://127.0.0.1:{port}", timeout=2).follow("p", 30, on_poll_error=on_poll_error)
    assert len(seen) == 3 and seen[0][1] < seen[-1][1] and seen[-1][1] >= 0.9  # polled every 0.5 s without a websocket


def test_a_failed_poll_without_the_hook_propagates() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(OSError):
        Client(f"http://127.0.0.1:{port}", timeout=2).follow("p", 30)


def test_the_deadline_hook_ends_the_wait() -> None:
    class TooLong(Exception):
        pass

    def on_deadline() -> None:
        raise TooLong()

    with WsComfy() as s:
        c = Client(s.url)
        t0 = time.monotonic()
        with pytest.raises(TooLong):
            c.follow("never-queued", 0.6, c.connect_events(), on_deadline=on_deadline)
        assert time.monotonic() - t0 < 3


def test_a_refused_prompt_carries_comfyuis_status_and_body() -> None:
    import http.server
    import json
    import threading

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.dumps({"error": {"type": "prompt_outputs_failed_validation"},
                               "node_errors": {"5": {"errors": [{"message": "bad"}], "class_type": "X"}}}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with pytest.raises(SubmitError) as e:
            Client(f"http://127.0.0.1:{httpd.server_address[1]}").queue(TINY)
    finally:
        httpd.shutdown()
    assert e.value.status == 400 and "5" in e.value.body["node_errors"]
