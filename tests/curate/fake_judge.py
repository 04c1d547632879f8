"""A scripted OpenAI-compatible judge on 127.0.0.1 for the annotate and label-loop tests.

- `score_of(document) -> 0..5` decides its verdict (default: len % 6).
- With `logprobs=True` it answers a request that asks for logprobs with the digit and a
  distribution: P(score) = 0.6, P(score +- 1) = 0.25, P("The") = 0.15 (not a digit). Without, it
  ignores the request's logprobs and answers in text ("Educational score: N"), as a server that
  offers none; with `refuse_logprobs`, a request for them gets a 400 that says so.
- A word in the document picks a failure on its first request: FIVEHUNDRED, NOTJSON, SLOW (1 s),
  NOSCORE (a reply without a score, every time when NEVER).
- `die_after = n`: the server stops answering for good after n requests (connections refused).
- `always = (status, body)`: every request gets that answer.
Every request is counted per document (`calls`)."""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeJudgeServer:
    def __init__(self, score_of=lambda doc: len(doc) % 6, logprobs: bool = False, refuse_logprobs: bool = False,
                 die_after: int | None = None, always: tuple[int, bytes] | None = None):
        self.score_of, self.logprobs, self.refuse_logprobs, self.die_after = score_of, logprobs, refuse_logprobs, die_after
        self.always = always
        self.calls: dict[str, int] = {}
        self.requests = 0
        self.bodies: list[dict] = []
        self.lock = threading.Lock()
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._send(200, b'{"data": []}')

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                judge.answer(self, body)

            def _send(self, status: int, data: bytes):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, handler, body: dict) -> None:
        doc = body["messages"][0]["content"].split("<document>\n", 1)[1].split("\n</document>", 1)[0]
        with self.lock:
            self.requests += 1
            self.bodies.append(body)
            n = self.calls[doc] = self.calls.get(doc, 0) + 1
            dying = self.die_after is not None and self.requests > self.die_after
        if dying:  # the judge dies: this request goes unanswered, later ones are refused
            threading.Thread(target=self.close, daemon=True).start()
            handler.close_connection = True
            return
        if self.always is not None:
            return handler._send(*self.always)
        wants_logprobs = bool(body.get("logprobs"))
        if wants_logprobs and self.refuse_logprobs:
            return handler._send(400, json.dumps({"error": {"message": "logprobs are not supported"}}).encode())
        kind = next((k for k in ("FIVEHUNDRED", "NOTJSON", "NOSCORE", "SLOW", "NEVER") if k in doc), None)
        if kind == "SLOW" and n == 1:
            threading.Event().wait(1.0)  # the client's timeout is shorter
        if kind == "FIVEHUNDRED" and n == 1:
            return handler._send(500, b'{"error": {"message": "the GPU fell off the bus"}}')
        if kind == "NOTJSON" and n == 1:
            return handler._send(200, b"<html>proxy error</html>")
        score = self.score_of(doc)
        unscored = kind == "NEVER" or (kind == "NOSCORE" and n == 1)
        choice = {"index": 0, "finish_reason": "stop", "logprobs": None}
        if wants_logprobs and self.logprobs:
            reply, content = ("The", [self._position("The", None)]) if unscored else (str(score), [self._position(str(score), score)])
            choice["logprobs"] = {"content": content, "refusal": None}
        else:
            reply = "Nice prose." if unscored else f"Teaches.\nEducational score: {score}"
        choice["message"] = {"role": "assistant", "content": reply}
        handler._send(200, json.dumps({"choices": [choice]}).encode())

    @staticmethod
    def _position(token: str, score: int | None) -> dict:
        if score is None:  # no digit anywhere among the top tokens
            top = [("The", 0.7), ("A", 0.3)]
        else:
            top = [(str(score), 0.6), (str(min(score + 1, 5)) if score < 5 else "4", 0.25), ("The", 0.15)]
        entries = [{"token": t, "logprob": math.log(p), "bytes": list(t.encode())} for t, p in top]
        return {"token": token, "logprob": entries[0]["logprob"], "bytes": list(token.encode()), "top_logprobs": entries}


def expected_of(score: int) -> float:
    """The expected score the fake's distribution gives (P 0.6 on the score, 0.25 on its neighbour, renormalized over 0.85)."""
    other = min(score + 1, 5) if score < 5 else 4
    return (0.6 * score + 0.25 * other) / 0.85
