"""An OpenAI-compatible HTTP server: /v1/models, /v1/chat/completions, /v1/completions.

Every request is validated: a bad one gets a 400 (401 without the API key, 404 for another model,
413 for a body over the size limit, 429 when the concurrency limit is reached) with an OpenAI-style
error body that says what is wrong. /openapi.json documents all of them (serve/openapi.py).
Streaming responses are server-sent events that end with `data: [DONE]`.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
import uuid
import weakref
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from pintsize.http_body import refuse_lone_surrogates
from pintsize.serve.batching import BatchedDecoder
from pintsize.serve.generate import Generator, TextStream
from pintsize.serve.logprobs import chat_logprobs, completion_logprobs, ShownText
from pintsize.serve.openapi import CHAT_RESPONSES, COMPLETION_RESPONSES, MODELS_RESPONSES, server_openapi
from pintsize.serve.prompt_bound import min_tokens, tokenizer_max_token_bytes
from pintsize.serve.sampling import GenerationError, SamplingParams
from pintsize.serve.schemas import ChatCompletionRequest, CompletionRequest, _Request


@dataclass(frozen=True)
class ServerSettings:
    model_name: str
    max_tokens: int = 1024  # the most new tokens one request may ask for
    max_concurrent: int = 4  # requests generating at once; more get a 429
    api_key: str | None = None
    max_request_bytes: int = 1 << 20  # a longer body is refused (413) before it is parsed


class APIError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param


def _error_body(message: str, kind: str, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


def _describe_validation(errors) -> tuple[str, str | None]:
    """One readable line per problem: 'messages.0.role: Input should be ...'."""
    lines, param = [], None
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        if err.get("type") == "json_invalid":
            lines.append(f"the request body is not valid JSON ({err.get('ctx', {}).get('error', err['msg'])})")
            continue
        where = ".".join(loc) or "body"
        param = param or where
        lines.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines), param


def _once(fn: Callable[[], None]) -> Callable[[], None]:
    """`fn` made safe to call many times from many threads: only the first call runs it."""
    lock, done = threading.Lock(), []

    def call() -> None:
        with lock:
            if not done:
                done.append(True)
                fn()

    return call


def create_app(generator: Generator, settings: ServerSettings) -> FastAPI:
    # The requests in flight are decoded together (continuous batching), one row each.
    decoder = BatchedDecoder(generator.model, generator.vocab_size, settings.max_concurrent)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        decoder.close()

    app = FastAPI(
        title="pintsize",
        description=f"OpenAI-compatible API serving {settings.model_name}",
        lifespan=lifespan,
        max_body_size=settings.max_request_bytes,  # counted as the body streams in, and from Content-Length
        dependencies=[Depends(refuse_lone_surrogates)],
    )
    app.openapi = lambda: server_openapi(app, settings.model_name, settings.max_tokens, generator.vocab_size, settings.api_key is not None)
    slots = threading.BoundedSemaphore(settings.max_concurrent)
    longest_token = tokenizer_max_token_bytes(generator.tokenizer)  # None: no length bound, always tokenize

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        message, param = _describe_validation(exc.errors())
        return JSONResponse(_error_body(message, "invalid_request_error", param), status_code=400)

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return JSONResponse(_error_body(exc.message, exc.kind, exc.param), status_code=exc.status)

    @app.exception_handler(GenerationError)
    async def _generation_error(request: Request, exc: GenerationError):
        return JSONResponse(_error_body(str(exc), "invalid_request_error"), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        message = str(exc.detail)
        if exc.status_code == 413:
            message = f"the request body is larger than this server's limit of {settings.max_request_bytes} bytes"
        return JSONResponse(_error_body(message, "invalid_request_error"), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):  # a bug, not a bad request: still answer in OpenAI's form
        return JSONResponse(_error_body(f"internal error: {type(exc).__name__}: {exc}", "server_error"), status_code=500)

    @app.middleware("http")
    async def _auth(request: Request, call_next):
        if settings.api_key and request.url.path.startswith("/v1/"):
            scheme, _, key = request.headers.get("authorization", "").partition(" ")
            # RFC 9110: the scheme is case-insensitive; the key is compared in constant time.
            if scheme.lower() != "bearer" or not hmac.compare_digest(key.strip().encode(), settings.api_key.encode()):
                return JSONResponse(
                    _error_body("invalid or missing API key", "authentication_error"),
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return await call_next(request)

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/v1/models", responses=MODELS_RESPONSES)
    def models() -> dict:
        card = {
            "id": settings.model_name,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "pintsize",
            "max_model_len": generator.context_length,
        }
        return {"object": "list", "data": [card]}

    def sampling(req: _Request, prompt_tokens: int) -> SamplingParams:
        if req.model != settings.model_name:
            raise APIError(404, f"model '{req.model}' not found; this server serves '{settings.model_name}'", "not_found_error", "model")
        if req.max_tokens is not None and req.max_tokens > settings.max_tokens:
            raise APIError(400, f"max_tokens {req.max_tokens} is above this server's limit of {settings.max_tokens}", param="max_tokens")
        asked = min(req.max_tokens or req.DEFAULT_MAX_TOKENS or settings.max_tokens, settings.max_tokens)
        room = generator.context_length - prompt_tokens
        if room <= 0:
            raise APIError(
                400, f"the prompt has {prompt_tokens} tokens; the model's context is {generator.context_length} tokens",
                param="messages" if isinstance(req, ChatCompletionRequest) else "prompt",
            )
        return SamplingParams(
            max_new_tokens=min(asked, room),
            temperature=req.temperature,
            top_k=req.top_k,
            top_p=req.top_p,
            repetition_penalty=req.repetition_penalty,
            stop=tuple(req.stop or ()),
            seed=None if req.seed is None else req.seed % 2**64,
            logprobs=req.logprobs_k,
        )

    async def prompt_ids_of(text: str, param: str, add_special_tokens: bool = True) -> list[int]:
        """The prompt's token ids. A prompt that cannot fit the context is refused by its length
        alone (prompt_bound), before it is tokenized; the others are tokenized in a worker thread,
        so that a long one holds up neither the event loop nor the requests being decoded."""
        if longest_token is not None and (least := min_tokens(text, longest_token)) >= generator.context_length:
            raise APIError(
                400, f"the prompt has at least {least} tokens ({len(text.encode('utf-8', 'surrogatepass'))} bytes; no token "
                f"stands for more than {longest_token}); the model's context is {generator.context_length} tokens", param=param,
            )
        return await run_in_threadpool(generator.encode, text, add_special_tokens)

    def start(prompt_ids: list[int], params: SamplingParams) -> tuple[TextStream, Callable[[], None]]:
        """Take a generation slot (or refuse with 429) and start the stream; returns it with the slot's release."""
        if not slots.acquire(blocking=False):
            raise APIError(429, f"too many requests in progress (limit {settings.max_concurrent}); retry later", "rate_limit_error")
        release = _once(slots.release)
        try:
            stream = generator.stream(prompt_ids, params, decoder)
        except BaseException:
            release()
            raise
        # A client that disconnects before its stream starts never runs the stream's own cleanup:
        # the slot then comes back when the stream object is collected.
        weakref.finalize(stream, release)
        return stream, release

    def usage(stream: TextStream) -> dict:
        n = len(stream.token_ids)
        return {"prompt_tokens": stream.prompt_tokens, "completion_tokens": n, "total_tokens": stream.prompt_tokens + n}

    async def finish(stream: TextStream, release: Callable[[], None]) -> None:
        try:
            await run_in_threadpool(stream.completion)
        finally:
            release()

    def sse(stream: TextStream, release: Callable[[], None], chunk, include_usage: bool) -> StreamingResponse:
        """chunk(text_or_None, finish_reason_or_None, logprob records of the tokens since the last
        event, or None when none were asked for) -> one event's JSON object."""

        def events() -> Iterator[str]:
            sent = 0  # tokens whose log-probabilities went out with an earlier event

            def new_records():
                nonlocal sent
                if stream.logprobs is None:
                    return None
                records, sent = stream.logprobs[sent : len(stream.token_ids)], len(stream.token_ids)
                return records

            try:
                first = chunk("", None, None)
                if first is not None:
                    yield f"data: {json.dumps(first)}\n\n"
                for piece in stream:
                    yield f"data: {json.dumps(chunk(piece, None, new_records()))}\n\n"
                yield f"data: {json.dumps(chunk(None, stream.finish_reason, new_records()))}\n\n"
                if include_usage:
                    yield f"data: {json.dumps({**chunk(None, None, None), 'choices': [], 'usage': usage(stream)})}\n\n"
            except Exception as e:  # headers are sent: report the failure in the stream itself
                yield f"data: {json.dumps(_error_body(str(e), 'server_error'))}\n\n"
            finally:
                release()
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/v1/chat/completions", responses=CHAT_RESPONSES)
    async def chat_completions(req: ChatCompletionRequest):
        messages = [{"role": m.role, "content": m.text()} for m in req.messages]
        text = await run_in_threadpool(generator.chat_text, messages)
        prompt_ids = await prompt_ids_of(text, "messages", add_special_tokens=False)  # the template writes BOS itself
        stream, release = start(prompt_ids, sampling(req, len(prompt_ids)))
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        head = {"id": rid, "created": created, "model": settings.model_name}
        tb = generator.token_bytes if req.logprobs_k is not None else None
        if req.stream:
            def chunk(piece, finish, records):
                if piece == "":  # the opening event names the role
                    delta = {"role": "assistant", "content": ""}
                else:
                    delta = {} if piece is None else {"content": piece}
                logprobs = None if records is None else chat_logprobs(records, tb)
                choice = {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
                return {**head, "object": "chat.completion.chunk", "choices": [choice]}

            return sse(stream, release, chunk, bool(req.stream_options and req.stream_options.include_usage))
        await finish(stream, release)
        message = {"role": "assistant", "content": stream.text}
        logprobs = None if tb is None else chat_logprobs(stream.logprobs[: len(stream.token_ids)], tb)
        choice = {"index": 0, "message": message, "finish_reason": stream.finish_reason, "logprobs": logprobs}
        return {**head, "object": "chat.completion", "choices": [choice], "usage": usage(stream)}

    @app.post("/v1/completions", responses=COMPLETION_RESPONSES)
    async def completions(req: CompletionRequest):
        if isinstance(req.prompt, str):
            prompt_ids = await prompt_ids_of(req.prompt, "prompt")
        else:
            bad = [t for t in req.prompt if not 0 <= t < generator.vocab_size]
            if bad:
                raise APIError(400, f"prompt token ids out of range [0, {generator.vocab_size}): {bad[:5]}", param="prompt")
            prompt_ids = list(req.prompt)
        stream, release = start(prompt_ids, sampling(req, len(prompt_ids)))
        head = {"id": f"cmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": settings.model_name}
        tb = generator.token_bytes if req.logprobs_k is not None else None
        if req.stream:
            shown = ShownText()  # the completion so far: text_offset counts from its start

            def chunk(piece, finish, records):
                if piece == "":
                    return None  # completions have no opening event
                logprobs = None if records is None else completion_logprobs(records, tb, shown)
                choice = {"index": 0, "text": piece or "", "finish_reason": finish, "logprobs": logprobs}
                return {**head, "object": "text_completion", "choices": [choice]}

            return sse(stream, release, chunk, bool(req.stream_options and req.stream_options.include_usage))
        await finish(stream, release)
        logprobs = None if tb is None else completion_logprobs(stream.logprobs[: len(stream.token_ids)], tb)
        choice = {"index": 0, "text": stream.text, "finish_reason": stream.finish_reason, "logprobs": logprobs}
        return {**head, "object": "text_completion", "choices": [choice], "usage": usage(stream)}

    return app
