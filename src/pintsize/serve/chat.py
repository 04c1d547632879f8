"""An interactive chat in the terminal: the chat template applied, replies streamed as they are written.

Commands at the prompt: /reset forgets the conversation, /exit (or Ctrl-D) ends it. When the
conversation outgrows the model's context, the oldest turns are dropped (a system message stays).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, TextIO

from pintsize.serve.generate import Generator
from pintsize.serve.sampling import SamplingParams


def fit_history(gen: Generator, messages: list[dict[str, str]], max_new_tokens: int) -> tuple[list[dict[str, str]], list[int]]:
    """Drop the oldest exchanges until the prompt leaves room for a reply; returns the kept messages and prompt."""
    system = [m for m in messages[:1] if m["role"] == "system"]
    turns = messages[len(system):]
    while True:
        ids = gen.chat_prompt(system + turns)
        if len(ids) + min(max_new_tokens, 16) <= gen.context_length or len(turns) <= 1:
            return system + turns, ids
        turns = turns[2:] if len(turns) > 2 else turns[-1:]


def run_chat(
    gen: Generator,
    params: SamplingParams,
    read: Callable[[str], str],
    out: TextIO,
    system: str | None = None,
) -> int:
    """Converse until /exit or end of input; returns the number of replies written."""
    messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    replies = 0
    while True:
        try:
            line = read("you> ")
        except EOFError:
            break
        text = line.strip()
        if text == "/exit":
            break
        if text == "/reset":
            messages = messages[:1] if system else []
            out.write("(conversation reset)\n")
            continue
        if not text:
            continue
        messages, ids = fit_history(gen, messages + [{"role": "user", "content": text}], params.max_new_tokens)
        room = gen.context_length - len(ids)
        if room <= 0:
            out.write(f"(that message alone is longer than the model's context of {gen.context_length} tokens)\n")
            messages.pop()
            continue
        out.write("assistant> ")
        stream = gen.stream(ids, replace(params, max_new_tokens=min(params.max_new_tokens, room)))
        for piece in stream:
            out.write(piece)
            out.flush()
        out.write("\n")
        messages.append({"role": "assistant", "content": stream.text})
        replies += 1
    return replies
