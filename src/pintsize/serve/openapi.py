"""The server's OpenAPI schema, made to say what the server does.

FastAPI documents a 422 for every route with a body; this server answers validation failures with
a 400 in OpenAI's error form, and also 401, 404, 413 and 429. The limits that are settings of one
server (its model's name, max_tokens, the vocabulary of token-id prompts, the API key) are written
into the schema here, so that what it calls valid is what the server accepts.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from pintsize.serve.schemas import ChatCompletion, ErrorResponse, TextCompletion


def _error(description: str) -> dict:
    return {"model": ErrorResponse, "description": description}


_UNAUTHORIZED = {
    **_error("no API key, or the wrong one (only when the server was started with one)"),
    "headers": {"WWW-Authenticate": {"description": "the scheme to use: Bearer", "schema": {"type": "string"}}},
}
# A body whose Content-Length is over the limit gets Starlette's own plain-text answer; one that
# streams past it gets the JSON error.
TOO_LARGE = {
    **_error("the request body is larger than the server's limit (--max-request-bytes)"),
    "content": {"text/plain": {"schema": {"type": "string", "example": "Content Too Large"}}},
}
MODELS_RESPONSES: dict = {401: _UNAUTHORIZED}
_GENERATION = {
    400: _error("a malformed or unsupported request, max_tokens above the server's limit, or a prompt longer than the model's context"),
    401: _UNAUTHORIZED,
    404: _error("the model asked for is not the one this server serves"),
    413: TOO_LARGE,
    429: _error("the server's --max-concurrent requests are already generating; retry later"),
}
# Before OpenAPI 3.2 an event stream's schema describes each event; every one of ours is one `data:` line.
_EVENT = {"type": "object", "properties": {"data": {"type": "string"}}, "required": ["data"]}
_STREAM = {"text/event-stream": {"schema": {**_EVENT, "description": "a JSON chunk per event, then `data: [DONE]`"}}}
CHAT_RESPONSES: dict = {
    200: {"model": ChatCompletion, "description": "the assistant's reply (with stream=true: server-sent events)", "content": _STREAM},
    **_GENERATION,
}
COMPLETION_RESPONSES: dict = {
    200: {"model": TextCompletion, "description": "the completion (with stream=true: server-sent events)", "content": _STREAM},
    **_GENERATION,
}


def _integer_branch(prop: dict) -> dict:
    """The integer schema of an `int | None` property (pydantic writes it as anyOf)."""
    return next(s for s in prop.get("anyOf", [prop]) if s.get("type") == "integer")


def server_openapi(app: FastAPI, model_name: str, max_tokens: int, vocab_size: int, api_key: bool) -> dict:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            operation["responses"].pop("422", None)  # validation failures are 400s (see above)
            if api_key and path.startswith("/v1/"):
                operation["security"] = [{"apiKey": []}]
            else:
                operation["responses"].pop("401", None)
    components = schema["components"]
    for name in ("HTTPValidationError", "ValidationError"):
        components["schemas"].pop(name, None)
    if api_key:
        components["securitySchemes"] = {"apiKey": {"type": "http", "scheme": "bearer"}}
    for name in ("ChatCompletionRequest", "CompletionRequest"):
        props = components["schemas"][name]["properties"]
        props["model"]["enum"] = [model_name]  # another name is answered 404
        for field in ("max_tokens", "max_completion_tokens"):
            if field in props:
                _integer_branch(props[field])["maximum"] = max_tokens
    chat = components["schemas"]["ChatCompletionRequest"]
    chat["dependentSchemas"] = {"top_logprobs": {"required": ["logprobs"], "properties": {"logprobs": {"const": True}}}}
    token_ids = components["schemas"]["CompletionRequest"]["properties"]["prompt"]["anyOf"][2]
    token_ids["items"]["maximum"] = vocab_size - 1
    app.openapi_schema = schema
    return schema
