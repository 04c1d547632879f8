"""Generation with a KV cache: token by token, streamed as text, stopped by stop tokens or strings.

    gen = Generator.load("runs/demo/sft/model")
    for piece in (stream := gen.stream_chat([{"role": "user", "content": "Hi"}], SamplingParams())):
        print(piece, end="", flush=True)
    stream.finish_reason  # "stop" or "length"

Used by `pintsize generate`, `pintsize chat`, the server, MT-Bench answers, the harness adapter's
`generate_until` and the run report's sample generations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import torch

from pintsize.model.llama import Llama
from pintsize.model.stop_tokens import stop_token_ids
from pintsize.serve.sampling import GenerationError, SamplingParams, TokenChooser
from pintsize.serve.stopping import StopStrings

if TYPE_CHECKING:
    from pintsize.serve.batching import BatchedDecoder
    from pintsize.serve.logprobs import TokenBytes


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def decode_budget(model: Llama, prompt_ids: list[int], params: SamplingParams) -> int:
    """How many new tokens a prompt may get: `max_new_tokens`, or fewer at the end of the model's
    context. A prompt that cannot be served raises here, before any work."""
    n, block = len(prompt_ids), model.config.block_size
    if n == 0:
        raise GenerationError("the prompt is empty")
    if n >= block:
        raise GenerationError(f"the prompt has {n} tokens; the model's context is {block} tokens")
    return min(params.max_new_tokens, block - n)


def generate_tokens(
    model: Llama, prompt_ids: list[int], params: SamplingParams, vocab_size: int, record: list | None = None
) -> Iterator[int]:
    """Yield new token ids one at a time, until `max_new_tokens` or the end of the model's context.

    The caller stops early (stop tokens, stop strings) by no longer iterating. A prompt that cannot
    be served raises here, before the first token, so a server can still answer with an error.
    With `params.logprobs` set, `record` gets a TokenLogprob per token, before the token is yielded.
    """
    budget = decode_budget(model, prompt_ids, params)
    return _decode(model, prompt_ids, budget, TokenChooser(params, vocab_size, model.tok_emb.weight.device, record))


@torch.inference_mode()
def _decode(model: Llama, prompt_ids: list[int], budget: int, choose: TokenChooser) -> Iterator[int]:
    """The prompt is processed in one pass; each later step feeds one token and reuses the cached keys/values."""
    n = len(prompt_ids)
    seen = torch.empty(1, n + budget, dtype=torch.long, device=model.tok_emb.weight.device)
    seen[0, :n] = torch.tensor(prompt_ids, dtype=torch.long)
    cache = model.new_kv_cache(1, n + budget)
    # Only the last position's logits are needed: skip the vocabulary projection for the rest.
    hidden = model.hidden_states(seen[:, :n], kv_cache=cache)[:, -1]
    for i in range(budget):
        token = choose(model.lm_head(hidden), seen[:, : n + i])
        seen[0, n + i] = token
        yield token
        if i + 1 < budget:
            hidden = model.hidden_states(seen[:, n + i : n + i + 1], kv_cache=cache)[:, -1]


@dataclass
class Completion:
    text: str
    token_ids: list[int]
    finish_reason: str  # "stop" (a stop token or string) or "length" (max_new_tokens or the context end)
    prompt_tokens: int

    @property
    def completion_tokens(self) -> int:
        return len(self.token_ids)


@dataclass
class TextStream:
    """Iterate to get the text as it is generated; once exhausted, `completion()` describes the result.

    Text that could be the start of a stop string is held back until it is decided.
    """

    tokens: Iterator[int]
    tokenizer: object
    prompt_tokens: int
    stop_token_ids: frozenset[int]
    stops: StopStrings
    token_ids: list[int] = field(default_factory=list)
    text: str = ""
    finish_reason: str | None = None
    # With SamplingParams.logprobs: a TokenLogprob per generated token; entry i belongs to token_ids[i]
    # (a stop token that ended the stream may add one more, never shown).
    logprobs: list | None = None

    def __iter__(self) -> Iterator[str]:
        from tokenizers.decoders import DecodeStream

        decoder = DecodeStream(skip_special_tokens=True)
        backend = self.tokenizer.backend_tokenizer
        text, shown, finish = "", 0, "length"
        try:
            for token in self.tokens:
                if token in self.stop_token_ids:
                    finish = "stop"
                    break
                self.token_ids.append(token)
                piece = decoder.step(backend, token)
                if not piece:
                    continue  # an incomplete UTF-8 sequence, or a special token that is not shown
                checked, text = len(text), text + piece
                cut = self.stops.find(text, checked)
                if cut is not None:
                    text, finish = text[:cut], "stop"
                    break
                safe = self.stops.safe_length(text)
                if safe > shown:
                    yield text[shown:safe]
                    shown = safe
        finally:
            self.tokens.close()  # frees the KV cache when the caller stops early
        if len(text) > shown:
            yield text[shown:]
        self.text, self.finish_reason = text, finish

    def completion(self) -> Completion:
        if self.finish_reason is None:
            for _ in self:
                pass
        return Completion(self.text, self.token_ids, self.finish_reason, self.prompt_tokens)


class Generator:
    """A model and its tokenizer, ready to complete prompts and chats."""

    def __init__(self, model: Llama, tokenizer, name: str = "model"):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.vocab_size = len(tokenizer)
        if self.vocab_size > model.config.padded_vocab_size:
            raise GenerationError(
                f"the tokenizer has {self.vocab_size} tokens but the model's vocabulary holds "
                f"{model.config.padded_vocab_size}: they do not belong together"
            )
        # EOS and the vocabulary's other end-of-turn/text tokens: where the exports stop too
        self.stop_token_ids = frozenset(stop_token_ids(tokenizer))
        self._token_bytes: TokenBytes | None = None

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "auto", dtype: torch.dtype | None = None) -> "Generator":
        from pintsize.model.checkpoint import STAGE_MODEL_DIR, load_model, resolve_model_dir, tokenizer_path
        from pintsize.tokenizer import load_tokenizer

        model_dir = resolve_model_dir(model_dir)  # a training stage's artifact (runs/x/sft) works too
        tok_dir = tokenizer_path(model_dir)
        if tok_dir is None:
            raise GenerationError(f"{model_dir}: the model directory has no tokenizer/ to encode prompts with")
        dev = resolve_device(device)
        dtype = dtype or (torch.bfloat16 if dev.type == "cuda" else torch.float32)
        # runs/demo/sft/model is called "sft": the stage says more than its model/ folder
        name = model_dir.parent.name if model_dir.name == STAGE_MODEL_DIR else model_dir.name
        return cls(load_model(model_dir, device=dev, dtype=dtype), load_tokenizer(tok_dir), name=name)

    @property
    def context_length(self) -> int:
        return self.model.config.block_size

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=add_special_tokens)

    def chat_text(self, messages: list[dict[str, str]]) -> str:
        """A conversation in the tokenizer's chat template, ready for the assistant's reply."""
        if not self.tokenizer.chat_template:
            raise GenerationError(f"the tokenizer of {self.name} has no chat template")
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def chat_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of a conversation in the tokenizer's chat template, ready for the assistant's reply."""
        # The template writes the special tokens itself (BOS included), as transformers does.
        return self.encode(self.chat_text(messages), add_special_tokens=False)

    def stream(self, prompt_ids: list[int], params: SamplingParams, decoder: "BatchedDecoder | None" = None) -> TextStream:
        """The completion of `prompt_ids` as a text stream; with a `decoder` (the server's), the
        request is decoded in a batch with the others in flight."""
        stop_ids, stop_strings = set(self.stop_token_ids), []
        special = {i for i, t in self.tokenizer.added_tokens_decoder.items() if t.special}
        for s in params.stop:  # special tokens are not shown as text: match such a stop string as its token
            ids = self.tokenizer.encode(s, add_special_tokens=False)
            if len(ids) == 1 and ids[0] in special:
                stop_ids.add(ids[0])
            else:
                stop_strings.append(s)
        record = [] if params.logprobs is not None else None
        if decoder is None:
            tokens = generate_tokens(self.model, prompt_ids, params, self.vocab_size, record)
        else:
            tokens = decoder.generate(prompt_ids, params, decode_budget(self.model, prompt_ids, params), record)
        stream = TextStream(tokens, self.tokenizer, len(prompt_ids), frozenset(stop_ids), StopStrings(stop_strings))
        stream.logprobs = record
        return stream

    @property
    def token_bytes(self) -> "TokenBytes":
        """Each token's bytes and display text (for log-probabilities), built on first use."""
        from pintsize.serve.logprobs import TokenBytes

        if self._token_bytes is None:
            self._token_bytes = TokenBytes(self.tokenizer)
        return self._token_bytes

    def stream_chat(self, messages: list[dict[str, str]], params: SamplingParams) -> TextStream:
        return self.stream(self.chat_prompt(messages), params)

    def complete(self, prompt: str | list[int], params: SamplingParams) -> Completion:
        ids = self.encode(prompt) if isinstance(prompt, str) else prompt
        return self.stream(ids, params).completion()

    def chat(self, messages: list[dict[str, str]], params: SamplingParams) -> Completion:
        return self.stream_chat(messages, params).completion()

