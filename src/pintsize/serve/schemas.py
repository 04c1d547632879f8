"""OpenAI-compatible request bodies, validated field by field.

Fields that clients routinely send but that mean nothing here (`user`, `logit_bias` left empty, ...)
are ignored; features that would change the answer and are not implemented (n > 1, tools,
penalties other than repetition_penalty) are refused with a message rather than silently dropped.
Log-probabilities are OpenAI's: `logprobs` + `top_logprobs` on chat, an integer `logprobs` on
completions (see serve/logprobs.py for the response shapes).

Types are strict (`"16"` is not a number), and the OpenAPI schema says what the validators accept:
where a validator words its own message, `WithJsonSchema`/`json_schema_extra` state its rule.
Limits that are the server's settings (max_tokens, the vocabulary) are added by serve/openapi.py.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from pintsize.http_body import JSONInt, json_int
from pintsize.serve.sampling import MAX_TOP_LOGPROBS

PositiveInt = json_int(ge=1)

_TEXT = {"type": "string", "minLength": 1}
Stops = Annotated[
    str | list[str] | None,
    WithJsonSchema({"anyOf": [_TEXT, {"type": "array", "items": _TEXT, "maxItems": 4}, {"type": "null"}]}),
]
# One prompt: a string, a one-string list, or token ids (their upper bound is the served vocabulary).
Prompt = Annotated[
    str | list[str] | list[JSONInt],
    WithJsonSchema({"anyOf": [
        _TEXT,
        {"type": "array", "items": _TEXT, "minItems": 1, "maxItems": 1},
        {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1},
    ]}),
]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    include_usage: bool = False


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    DEFAULT_MAX_TOKENS: ClassVar[int | None] = None  # None: the server's limit

    model: str = Field(min_length=1)
    max_tokens: PositiveInt | None = None
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: JSONInt = Field(0, ge=0, description="extension: 0 turns it off")
    repetition_penalty: float = Field(1.0, ge=0.01, le=10.0, description="extension: 1 turns it off")
    stop: Stops = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    # Any integer, reduced modulo 2^64 (torch's seed range) by the server. A published bound near
    # 2^64 is not exact in the doubles most schema tools compare with: a fuzzer sent 2^64 + 383 as valid.
    seed: JSONInt | None = Field(None, description="seeds the sampling; any integer, taken modulo 2^64")
    n: JSONInt = Field(1, json_schema_extra={"minimum": 1, "maximum": 1}, description="only 1 is supported")
    frequency_penalty: float = Field(0.0, json_schema_extra={"minimum": 0, "maximum": 0}, description="not supported")
    presence_penalty: float = Field(0.0, json_schema_extra={"minimum": 0, "maximum": 0}, description="not supported")

    @field_validator("stop")
    @classmethod
    def _stops(cls, v):
        stops = [v] if isinstance(v, str) else (v or [])
        if len(stops) > 4:
            raise ValueError("at most 4 stop sequences")
        if any(not s for s in stops):
            raise ValueError("stop sequences must not be empty")
        return stops

    @model_validator(mode="after")
    def _supported(self):
        if self.n != 1:
            raise ValueError("only n=1 is supported")
        if self.frequency_penalty or self.presence_penalty:
            raise ValueError("frequency_penalty and presence_penalty are not supported; use repetition_penalty")
        return self


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    role: Literal["system", "user", "assistant"]
    content: str | list[TextPart]

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


_LOGPROB_NOTE = (
    "the model's own log-softmax over its vocabulary, before repetition penalty, temperature, top-k and top-p"
)
TopLogprobs = json_int(ge=0, le=MAX_TOP_LOGPROBS)


class ChatCompletionRequest(_Request):
    messages: list[ChatMessage] = Field(min_length=1)
    logprobs: bool | None = Field(
        None, description=f"return each generated token's log-probability in choices[].logprobs.content: {_LOGPROB_NOTE}"
    )
    top_logprobs: TopLogprobs | None = Field(
        None, description=f"with logprobs: true, also this many most likely tokens at each position (0-{MAX_TOP_LOGPROBS})"
    )
    max_completion_tokens: PositiveInt | None = None
    tools: list | None = Field(None, json_schema_extra={"maxItems": 0}, description="not supported")
    response_format: dict | None = Field(
        None, json_schema_extra={"properties": {"type": {"enum": ["text"]}}}, description="only type 'text' is supported"
    )

    @model_validator(mode="after")
    def _chat_supported(self):
        if self.tools:
            raise ValueError("tools are not supported")
        if self.response_format and self.response_format.get("type", "text") != "text":
            raise ValueError("only response_format type 'text' is supported")
        if self.max_completion_tokens is not None:
            self.max_tokens = self.max_completion_tokens
        if "top_logprobs" in self.model_fields_set and self.logprobs is not True:  # as OpenAI (the schema says so too)
            raise ValueError("top_logprobs needs logprobs: true")
        return self

    @property
    def logprobs_k(self) -> int | None:
        """How many top tokens to return per position, or None when no log-probabilities are asked for."""
        return (self.top_logprobs or 0) if self.logprobs else None


class CompletionRequest(_Request):
    DEFAULT_MAX_TOKENS: ClassVar[int | None] = 16  # OpenAI's default (or the server's limit if lower)

    prompt: Prompt = Field(description="one prompt: a string or a list of token ids")
    max_tokens: PositiveInt | None = Field(None, description="default 16, or the server's limit if lower")
    echo: bool = Field(False, json_schema_extra={"enum": [False]}, description="not supported")
    logprobs: TopLogprobs | None = Field(
        None,
        description=f"return each generated token's log-probability and this many most likely tokens (0-{MAX_TOP_LOGPROBS}) "
        f"in choices[].logprobs, OpenAI's legacy shape: {_LOGPROB_NOTE}",
    )
    suffix: str | None = Field(None, json_schema_extra={"maxLength": 0}, description="not supported")

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, v):
        if isinstance(v, list) and v and isinstance(v[0], str):
            if len(v) != 1:
                raise ValueError("one prompt per request is supported")
            v = v[0]
        if isinstance(v, (str, list)) and len(v) == 0:
            raise ValueError("the prompt is empty")
        return v

    @model_validator(mode="after")
    def _completion_supported(self):
        if self.echo:
            raise ValueError("echo is not supported")
        if self.suffix:
            raise ValueError("suffix is not supported")
        return self

    @property
    def logprobs_k(self) -> int | None:
        return self.logprobs


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """The body of every error answer, in OpenAI's form."""

    error: ErrorDetail


# ---------------------------------------------------------------- response bodies (for the OpenAPI schema)


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class TopLogprob(BaseModel):
    token: str = Field(description="the token's text; `bytes:\\xNN...` when its bytes are not whole UTF-8")
    logprob: float
    bytes: list[int] = Field(description="the token's UTF-8 bytes")


class TokenLogprobEntry(TopLogprob):
    top_logprobs: list[TopLogprob] = Field(description="the most likely tokens at this position, most likely first")


class ChatLogprobs(BaseModel):
    content: list[TokenLogprobEntry]
    refusal: None = None


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]
    logprobs: ChatLogprobs | None


class ChatCompletion(BaseModel):
    """A chat completion (without stream)."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class CompletionLogprobs(BaseModel):
    """OpenAI's legacy shape: one entry per generated token in each list."""

    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]] = Field(description="per position: the most likely tokens and the chosen one")
    text_offset: list[int] = Field(description="where each token starts in the completion's text, in characters")


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: Literal["stop", "length"]
    logprobs: CompletionLogprobs | None


class TextCompletion(BaseModel):
    """A text completion (without stream)."""

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage
