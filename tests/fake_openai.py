"""A small OpenAI-compatible HTTP server for the retry and error paths: each request is
answered by a scripted behaviour, and every request is counted and kept for inspection."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, dict[str, str], bytes]
"""Status, headers, body."""


def completion(text: str, prompt_tokens: int = 11, completion_tokens: int = 3) -> Reply:
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def status(code: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps({"error": {"message": message, "type": "test", "code": code}}).encode()
    return code, {"Content-Type": "application/json", **(headers or {})}, body


class FakeOpenAI:
    """``behave(request_json) -> Reply`` answers each POST to /v1/chat/completions;
    ``delay_s(request_json)`` may hold the answer back (timeouts)."""

    def __init__(
        self,
        behave: Callable[[dict[str, Any]], Reply],
        delay_s: Callable[[dict[str, Any]], float] = lambda _r: 0.0,
    ):
        self.behave = behave
        self.delay_s = delay_s
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                with outer._lock:
                    outer.requests.append(payload)
                    outer.headers.append(dict(self.headers.items()))
                time.sleep(outer.delay_s(payload))
                code, headers, body = outer.behave(payload)
                try:
                    self.send_response(code)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def last_user_text(request: dict[str, Any]) -> str:
    return str(request["messages"][-1]["content"])
