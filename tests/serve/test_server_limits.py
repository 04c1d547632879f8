"""Requests that used to get a 500 or go unchecked: lone surrogates, out-of-range seeds, vanishing
temperatures, oversized bodies; and the API key's scheme, which is case-insensitive (RFC 9110)."""

import json

import pytest
from fastapi.testclient import TestClient

from pintsize.serve.generate import Generator
from pintsize.serve.sampling import SamplingParams
from pintsize.serve.server import ServerSettings, create_app

NAME = "tiny"
KEY = "sesame-key"
LIMIT = 4096
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def gen(bpe_model_dir):
    return Generator.load(bpe_model_dir, device="cpu")


@pytest.fixture(scope="module")
def client(gen):
    app = create_app(gen, ServerSettings(model_name=NAME, max_tokens=8, max_request_bytes=LIMIT))
    with TestClient(app) as client:
        yield client


def _error(r, status):
    assert r.status_code == status, r.text
    return r.json()["error"]["message"]


@pytest.mark.parametrize(
    "endpoint,raw,where",
    [
        ("completions", rb'{"model":"tiny","prompt":"\ud800"}', "prompt"),
        ("completions", rb'{"model":"tiny","prompt":["x \udfff y"]}', "prompt.0"),
        ("chat/completions", rb'{"model":"tiny","messages":[{"role":"user","content":"hi \ud800"}]}', "messages.0.content"),
        ("chat/completions", rb'{"model":"tiny","messages":[{"role":"user","content":[{"type":"text","text":"\udc00"}]}]}', "messages.0.content.0.text"),
        ("completions", rb'{"model":"tiny","prompt":"hi","user":{"\ud800":1}}', r"user.\ud800"),  # even where ignored
    ],
)
def test_a_lone_surrogate_is_a_400_naming_where(client, endpoint, raw, where):
    message = _error(client.post(f"/v1/{endpoint}", content=raw, headers=JSON), 400)
    assert message.startswith(f"{where}: ") and "lone UTF-16 surrogate" in message


def test_a_valid_surrogate_pair_is_text(client):
    r = client.post("/v1/completions", content=rb'{"model":"tiny","prompt":"smile \ud83d\ude00","max_tokens":2}', headers=JSON)
    assert r.status_code == 200, r.text


def test_any_integer_seed_is_taken_modulo_2_to_the_64(client, gen):
    body = {"model": NAME, "prompt": "The json module", "max_tokens": 6, "temperature": 1.5}

    def alone(seed):
        return gen.complete(gen.encode("The json module"), SamplingParams(max_new_tokens=6, temperature=1.5, seed=seed)).text

    assert alone(383) != alone(2**64 - 1)  # the seed decides the text here: the comparisons below can fail
    for sent, taken in ((2**64 - 1, 2**64 - 1), (2**64 + 383, 383), (-1, 2**64 - 1), (10**30, 10**30 % 2**64)):
        r = client.post("/v1/completions", json={**body, "seed": sent})
        assert r.status_code == 200 and r.json()["choices"][0]["text"] == alone(taken), sent
    assert _error(client.post("/v1/completions", json={**body, "seed": 1.5}), 400).startswith("seed: ")


@pytest.mark.parametrize("temperature", [1e-30, 5e-324])
def test_a_vanishing_temperature_samples_the_greedy_choice(client, gen, temperature):
    """The limit of softmax(logits / T) as T -> 0 is the argmax: it used to divide into inf, NaN, a 500."""
    body = {"model": NAME, "prompt": "The json module", "max_tokens": 8, "temperature": temperature, "seed": 1}
    greedy = gen.complete(gen.encode("The json module"), SamplingParams(max_new_tokens=8)).text
    assert client.post("/v1/completions", json=body).json()["choices"][0]["text"] == greedy


def test_a_repetition_penalty_that_overflows_is_refused(client):
    body = {"model": NAME, "prompt": "hi", "repetition_penalty": 5e-324}
    assert _error(client.post("/v1/completions", json=body), 400).startswith("repetition_penalty: ")


def test_a_body_over_the_limit_is_413_before_it_is_parsed(client):
    big = b'{"model":"tiny","prompt":"' + b"x" * LIMIT + b'"'  # not even valid JSON: refused before parsing
    r = client.post("/v1/completions", content=big, headers=JSON)
    assert r.status_code == 413 and r.text == "Content Too Large"  # by its Content-Length: Starlette's own answer

    def chunks():  # no Content-Length: counted as it streams in
        for _ in range(64):
            yield b"x" * 1024

    assert "limit of 4096 bytes" in _error(client.post("/v1/completions", content=chunks(), headers=JSON), 413)
    small = client.post("/v1/completions", json={"model": NAME, "prompt": "hi", "max_tokens": 2})
    assert small.status_code == 200 and small.json()["usage"]["completion_tokens"] == 2


def test_the_default_limit_is_one_mib(gen):
    assert ServerSettings(model_name=NAME).max_request_bytes == 2**20
    with TestClient(create_app(gen, ServerSettings(model_name=NAME))) as client:
        body = json.dumps({"model": NAME, "prompt": "word " * 220_000}).encode()  # 1.1 MB
        assert client.post("/v1/completions", content=body, headers=JSON).status_code == 413


def test_bearer_scheme_is_case_insensitive_and_401_says_how(gen):
    with TestClient(create_app(gen, ServerSettings(model_name=NAME, api_key=KEY))) as client:
        for scheme in ("Bearer", "bearer", "BEARER"):
            assert client.get("/v1/models", headers={"Authorization": f"{scheme} {KEY}"}).status_code == 200
        for header in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}, {"Authorization": KEY}):
            r = client.get("/v1/models", headers=header)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", header


def test_the_openapi_schema_documents_the_errors_the_server_gives(gen):
    app = create_app(gen, ServerSettings(model_name=NAME, max_tokens=8, api_key=KEY))
    with TestClient(app) as client:
        schema = client.get("/openapi.json").json()
    for path in ("/v1/completions", "/v1/chat/completions"):
        responses = schema["paths"][path]["post"]["responses"]
        assert set(responses) == {"200", "400", "401", "404", "413", "429"}  # no 422: validation errors are 400s
        assert "text/event-stream" in responses["200"]["content"]
    props = schema["components"]["schemas"]["CompletionRequest"]["properties"]
    assert props["prompt"]["anyOf"][0] == {"type": "string", "minLength": 1}  # the server refuses ""
    assert props["max_tokens"]["anyOf"][0]["maximum"] == 8 and props["model"]["enum"] == [NAME]
    assert props["seed"]["anyOf"][0] == {"type": "integer"}  # no bound that doubles cannot hold exactly
