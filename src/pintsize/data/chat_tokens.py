"""Conversations -> token ids and a loss mask, through the tokenizer's own chat template.

A conversation is rendered with `apply_chat_template` and tokenized in one piece, with character
offsets, exactly as `pintsize chat` and transformers tokenize a prompt (so training sees the
tokens inference will). Each assistant turn is located by rendering the conversation up to it
twice: with the generation prompt (where its content starts) and with the turn (where it ends).
Its tokens are targets up to and including the template's end of turn, the EOS (`<|im_end|>` in
ChatML), which is what teaches the model to stop. The assistant header (`<|im_start|>assistant\\n`),
the system and user turns and the newline after the EOS are not targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pintsize.data.chat import Message
from pintsize.data.json_records import Invalid
from pintsize.errors import DataError


@dataclass
class EncodedChat:
    ids: np.ndarray  # int32 token ids
    mask: np.ndarray  # uint8, 1 where the token is a training target

    def __len__(self) -> int:
        return len(self.ids)


class ChatEncoder:
    def __init__(self, tokenizer, source: str = "the tokenizer"):
        if not tokenizer.chat_template:
            raise DataError(f"{source} has no chat template; chat data needs one (pintsize tokenizers carry ChatML)")
        self.tokenizer = tokenizer
        self.eos_id = tokenizer.eos_token_id

    def _render(self, messages: list[Message], **kw) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, **kw)

    def render(self, messages: list[Message], train_from: int = 0) -> tuple[str, list[tuple[int, int]]]:
        """The conversation's text and the character spans of its assistant turns from message
        `train_from` on (DPO trains on the reply only, not on assistant turns of the prompt)."""
        text = self._render(messages)
        spans = []
        for i, m in enumerate(messages):
            if m["role"] != "assistant" or i < train_from:
                continue
            head = self._render(messages[:i], add_generation_prompt=True)
            upto = self._render(messages[: i + 1])
            if not (upto.startswith(head) and text.startswith(upto)):
                raise DataError(
                    "the tokenizer's chat template does not render a conversation as the start of its "
                    "continuation, so the assistant turns cannot be located for the loss mask"
                )
            spans.append((len(head), len(upto)))
        return text, spans

    def encode(self, conversations: Sequence[list[Message]], train_from: Sequence[int] | None = None) -> list[EncodedChat]:
        """Token ids and loss masks of many conversations (tokenized as one batch)."""
        rendered = [self.render(m, train_from[k] if train_from is not None else 0) for k, m in enumerate(conversations)]
        if not rendered:
            return []
        enc = self.tokenizer([t for t, _ in rendered], add_special_tokens=False, return_offsets_mapping=True)
        return [
            self._masked(np.asarray(ids, dtype=np.int32), np.asarray(offsets, dtype=np.int64).reshape(-1, 2), spans)
            for (_, spans), ids, offsets in zip(rendered, enc["input_ids"], enc["offset_mapping"])
        ]

    def _masked(self, ids: np.ndarray, offsets: np.ndarray, spans: list[tuple[int, int]]) -> EncodedChat:
        mask = np.zeros(len(ids), dtype=np.uint8)
        for start, end in spans:
            # A token is the assistant's when its characters overlap the turn (a token merged
            # across the header's newline and the content still belongs to the content).
            inside = np.flatnonzero((offsets[:, 1] > start) & (offsets[:, 0] < end))
            if len(inside) == 0:
                continue
            eos = inside[ids[inside] == self.eos_id]
            last = eos[-1] if len(eos) else inside[-1]
            mask[inside[0] : last + 1] = 1
        return EncodedChat(ids, mask)


def fit_length(chat: EncodedChat, max_len: int, policy: str) -> tuple[EncodedChat, bool]:
    """`chat` cut to `max_len` tokens ("truncate") or rejected ("drop"); returns (chat, truncated).
    Raises Invalid when it is too long to drop or when no target is left after the cut."""
    if len(chat) <= max_len:
        return chat, False
    if policy == "drop":
        raise Invalid(f"longer than the maximum length ({max_len} tokens)")
    cut = EncodedChat(chat.ids[:max_len], chat.mask[:max_len])
    if not cut.mask.any():
        raise Invalid(f"no assistant token within the maximum length ({max_len} tokens)")
    return cut, True
