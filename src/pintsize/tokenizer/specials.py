"""The special and chat tokens every pintsize tokenizer carries, and its ChatML chat template.

The layout is the 1.5-Pints one: `<unk>` 0, BOS `<s>` 1, EOS `<|im_end|>` 2 (Mistral's `</s>`
renamed, so that the end of a chat turn is the end of a sequence), then a block of 64 chat
tokens at the end of the vocabulary. A trained BPE keeps ids 0-2 and appends the same block,
so the two kinds of tokenizer are interchangeable for the chat, SFT and serving code.
"""

from __future__ import annotations

UNK = "<unk>"
BOS = "<s>"
EOS = "<|im_end|>"
PAD = "<|pad|>"
IM_START = "<|im_start|>"

BASE_SPECIALS = (UNK, BOS, EOS)  # ids 0, 1, 2

N_RESERVED = 49


def reserved(i: int) -> str:
    return f"<|reserved_{i}|>"


# The 64 added tokens of 1.5-Pints, in id order (32000..32063 in the Pints tokenizer).
CHAT_TOKENS: tuple[str, ...] = (
    "<|end_of_turn|>",
    PAD,
    IM_START,
    "</s>",
    "[INST]",
    "[/INST]",
    "<<SYS>>",
    "<</SYS>>",
    "<|user|>",
    "<|system|>",
    "<|assistant|>",
    "<|begin_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    *(reserved(i) for i in range(N_RESERVED)),
)
assert len(CHAT_TOKENS) == 64

# ChatML, as 1.5-Pints was tuned with: BOS, then one block per message, then the assistant
# header when a reply is wanted.
CHATML_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
