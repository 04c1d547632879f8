"""The terminal chat: replies are the model's replies to the whole conversation so far; /reset
forgets it; a conversation longer than the context loses its oldest exchanges first."""

import io

import pytest

from pintsize.serve.chat import fit_history, run_chat
from pintsize.serve.generate import Generator
from pintsize.serve.sampling import SamplingParams

GREEDY = SamplingParams(max_new_tokens=8)


@pytest.fixture(scope="module")
def gen(model_dir):
    return Generator.load(model_dir, device="cpu")


def scripted(lines):
    it = iter(lines)

    def read(prompt):
        try:
            return next(it)
        except StopIteration:
            raise EOFError from None

    return read


def test_replies_follow_the_conversation_and_reset_forgets_it(gen):
    out = io.StringIO()
    n = run_chat(gen, GREEDY, scripted(["What is json?", "And pickle?", "/reset", "And pickle?", "/exit", "never read"]), out)
    a1 = gen.chat([{"role": "user", "content": "What is json?"}], GREEDY).text
    a2 = gen.chat([{"role": "user", "content": "What is json?"}, {"role": "assistant", "content": a1}, {"role": "user", "content": "And pickle?"}], GREEDY).text
    a3 = gen.chat([{"role": "user", "content": "And pickle?"}], GREEDY).text
    assert n == 3
    assert out.getvalue() == f"assistant> {a1}\nassistant> {a2}\n(conversation reset)\nassistant> {a3}\n"
    assert a2 != a3  # the history changed the second reply


def test_system_message_survives_while_old_turns_are_dropped(gen):
    long = "The json module encodes and decodes JSON documents. " * 6
    messages = [{"role": "system", "content": "Be brief."}]
    for i in range(6):
        messages += [{"role": "user", "content": f"{i} {long}"}, {"role": "assistant", "content": long}]
    messages.append({"role": "user", "content": "last question"})
    kept, ids = fit_history(gen, messages, max_new_tokens=8)
    assert len(ids) + 8 <= gen.context_length
    assert kept[0]["role"] == "system" and kept[-1]["content"] == "last question"
    assert kept[1:] == messages[len(messages) - len(kept) + 1 :]  # a suffix of the conversation
    assert len(kept) < len(messages)
