"""Continuous batching for the server: one thread decodes every active request together.

Decoding a small model is memory-bound: a step reads every weight once whether it feeds one
sequence or eight, so stepping the requests together multiplies the server's throughput.
Requests join at any step and leave when done (or when their client goes away):

- a new request's prompt is run on its own (prefill), its keys and values are copied into a free
  row of the shared cache, and its first token is chosen;
- each step then feeds every active row its last token, at that row's own position, with a mask
  that hides the unused slots of shorter rows;
- a finished row is refilled by the last active row, so the active rows are always the first n.

Each request keeps its own TokenChooser (sampling settings, seeded generator), so its tokens are
those that `generate_tokens` gives for it alone (tested).
"""

from __future__ import annotations

import atexit
import queue
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Protocol

import torch

from pintsize.model.llama import Llama
from pintsize.serve.sampling import SamplingParams, TokenChooser


class ModelWithVocab(Protocol):
    """What a batched decoder needs of a `serve.generate.Generator` (named here, not imported:
    generate.py imports this module, so imports run one way)."""

    model: Llama
    vocab_size: int


_END = object()  # a request's last item: no more tokens
FIRST_SLOTS = 128  # the shared cache's first length per row; it doubles as longer requests come


@dataclass(eq=False)  # compared by identity
class _Request:
    prompt: list[int]
    budget: int  # new tokens at most
    chooser: TokenChooser
    out: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    seen: torch.Tensor | None = None  # [1, prompt + budget]: the prompt and the tokens so far
    made: int = 0  # new tokens chosen
    cancelled: bool = False

    @property
    def length(self) -> int:
        """Tokens in the cache: the prompt and every chosen token but the last, which is fed next
        (at this position)."""
        return len(self.prompt) + self.made - 1


class RequestTokens:
    """The tokens of one request as an iterator; `close()` (or being dropped) ends the request."""

    def __init__(self, request: _Request):
        self._request = request
        self._done = False

    def __iter__(self) -> "RequestTokens":
        return self

    def __next__(self) -> int:
        if self._done:
            raise StopIteration
        item = self._request.out.get()
        if item is _END:
            self._done = True
            raise StopIteration
        if isinstance(item, BaseException):
            self._done = True
            raise item
        return item

    def close(self) -> None:
        self._request.cancelled = True  # the engine drops the row at its next step
        self._done = True

    def __del__(self) -> None:
        self.close()


class _StepCache:
    """What the model sees of the shared cache in one decoding step: the first n rows, each
    writing its one new key/value at its own length. `length` only tells the model that this is
    not a first pass (it adds T to it; nothing reads that)."""

    length = 1

    def __init__(self, k: torch.Tensor, v: torch.Tensor, positions: torch.Tensor, span: int):
        self.k, self.v, self.positions, self.span = k, v, positions, span
        self.rows = torch.arange(len(positions), device=positions.device)

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self.rows)  # k, v: [n, kv_heads, 1, head_dim]
        self.k[layer, self.rows, :, self.positions] = k[:, :, 0]
        self.v[layer, self.rows, :, self.positions] = v[:, :, 0]
        return self.k[layer, :n, :, : self.span], self.v[layer, :n, :, : self.span]


@contextmanager
def batched_decoding(generator: ModelWithVocab, max_batch: int) -> Iterator["BatchedDecoder"]:
    """A decoder for the generator's model for the length of a block (evaluations, MT-Bench):
    `generator.stream(ids, params, decoder)` from up to `max_batch` threads decodes together."""
    decoder = BatchedDecoder(generator.model, generator.vocab_size, max_batch)
    try:
        yield decoder
    finally:
        decoder.close()


class BatchedDecoder:
    """Owns the model's decoding: `generate(prompt_ids, params, budget)` returns the request's
    tokens as they come. At most `max_batch` requests decode at once; later ones wait their turn."""

    def __init__(self, model: Llama, vocab_size: int, max_batch: int):
        self.model, self.vocab_size, self.max_batch = model, vocab_size, max_batch
        self.device = model.tok_emb.weight.device
        self.active: list[_Request] = []
        self._waiting: list[_Request] = []
        self._wake = threading.Condition()
        self._k = self._v = None  # [layers, max_batch, kv_heads, slots, head_dim], grown on demand
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="pintsize-decoder", daemon=True)
        self._thread.start()
        atexit.register(self.close)  # a decoding thread still running at exit aborts the interpreter

    def generate(self, prompt_ids: list[int], params: SamplingParams, budget: int, record: list | None = None) -> RequestTokens:
        """Queue a request whose prompt and budget are already checked (`decode_budget`); with
        `params.logprobs`, `record` gets a TokenLogprob per token before the token is handed on."""
        request = _Request(list(prompt_ids), budget, TokenChooser(params, self.vocab_size, self.device, record))
        with self._wake:
            if self._closed:
                raise RuntimeError("the decoder is closed")
            self._waiting.append(request)
            self._wake.notify()
        return RequestTokens(request)

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=30)
        atexit.unregister(self.close)  # and let the model go

    # ------------------------------------------------------------ the decoding thread

    @torch.inference_mode()  # the thread's whole life: the cache is made and updated only here
    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closed and not self._waiting and not self.active:
                    self._wake.wait()
                if self._closed:
                    break
                room = self.max_batch - len(self.active)
                joining, self._waiting = self._waiting[:room], self._waiting[room:]
            for request in joining:
                try:
                    self._admit(request)
                except Exception as e:  # noqa: BLE001 - a prompt that fails fails its request only
                    if request in self.active:
                        self.active.remove(request)
                    request.out.put(e)
            try:
                self._drop_finished()
                if self.active:
                    self._step()
                    self._drop_finished()
            except Exception as e:  # noqa: BLE001 - a failed step fails the requests in it, not the server
                for request in self.active:
                    request.out.put(e)
                self.active = []
        for request in self.active + self._waiting:
            request.out.put(RuntimeError("the server is shutting down"))

    def _admit(self, request: _Request) -> None:
        """Prefill a new request alone, copy its keys/values into the next free row, choose its first token."""
        if request.cancelled:
            return
        n = len(request.prompt)
        self._reserve(n + request.budget)
        request.seen = torch.empty(1, n + request.budget, dtype=torch.long, device=self.device)
        request.seen[0, :n] = torch.tensor(request.prompt, dtype=torch.long)
        cache = self.model.new_kv_cache(1, n, dtype=self._k.dtype)
        hidden = self.model.hidden_states(request.seen[:, :n], kv_cache=cache)[:, -1]
        row = len(self.active)
        self._k[:, row, :, :n] = cache.k[:, 0]
        self._v[:, row, :, :n] = cache.v[:, 0]
        self.active.append(request)
        self._choose(request, self.model.lm_head(hidden))

    def _step(self) -> None:
        """One new token for every active row."""
        rows = self.active
        last = torch.stack([r.seen[0, r.length] for r in rows])[:, None]  # the token each row chose last
        positions = torch.tensor([r.length for r in rows], device=self.device)
        span = max(r.length for r in rows) + 1
        mask = (torch.arange(span, device=self.device) <= positions[:, None])[:, None, None, :]
        cache = _StepCache(self._k, self._v, positions, span)
        hidden = self.model.hidden_states(last, positions[:, None], mask, kv_cache=cache)[:, -1]
        logits = self.model.lm_head(hidden)
        for i, request in enumerate(rows):
            self._choose(request, logits[i : i + 1])

    def _choose(self, request: _Request, logits: torch.Tensor) -> None:
        end = len(request.prompt) + request.made
        token = request.chooser(logits, request.seen[:, :end])
        request.seen[0, end] = token
        request.made += 1
        request.out.put(token)
        if request.made == request.budget:
            request.out.put(_END)

    def _drop_finished(self) -> None:
        """Remove finished and cancelled rows; the last active row moves into each freed one."""
        i = 0
        while i < len(self.active):
            request = self.active[i]
            if request.made < request.budget and not request.cancelled:
                i += 1
                continue
            last = len(self.active) - 1
            if i != last:
                moved = self.active[last]
                self._k[:, i, :, : moved.length] = self._k[:, last, :, : moved.length]
                self._v[:, i, :, : moved.length] = self._v[:, last, :, : moved.length]
                self.active[i] = moved
            self.active.pop()

    def _reserve(self, slots: int) -> None:
        """Make the shared cache hold `slots` tokens per row (doubling, up to the model's context)."""
        if self._k is not None and self._k.shape[3] >= slots:
            return
        have = 0 if self._k is None else self._k.shape[3]
        size = min(self.model.config.block_size, max(slots, 2 * have, FIRST_SLOTS))
        c = self.model.config
        shape = (c.n_layer, self.max_batch, c.n_kv_head, size, c.head_dim)
        dtype = self.model.tok_emb.weight.dtype
        k, v = torch.zeros(shape, dtype=dtype, device=self.device), torch.zeros(shape, dtype=dtype, device=self.device)
        if self._k is not None:
            k[:, :, :, :have], v[:, :, :, :have] = self._k, self._v
        self._k, self._v = k, v
