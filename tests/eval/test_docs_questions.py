"""The demo's "does it listen" eval: questions about functions the built-in chat data never answers,
counted as different answers and answers that name the module asked about."""

import re

import pytest

from pintsize.data.docs_chat import HELD_OUT, function_docs, held_out_functions, preference_pairs, sft_conversations
from pintsize.eval.docs_questions import ask, names_module, questions
from pintsize.serve.generate import Generator
from pintsize.serve.sampling import SamplingParams


def test_the_questions_are_about_functions_the_chat_data_never_shows():
    asked = held_out_functions()
    assert len(asked) >= 50 and set(HELD_OUT) <= {f["name"] for f in asked}
    names = {f"`{f['name']}`" for f in asked} | {f"`{f['name']}(" for f in asked}
    shown = [m["content"] for c in sft_conversations(10_000) for m in c["messages"]]
    shown += [p[k] for p in preference_pairs(10_000) for k in ("prompt", "chosen", "rejected")]
    assert len(shown) > 2000 and not [t for t in shown if any(n in t for n in names)]
    qs = questions(60)
    assert len(qs) == len(asked) and qs[0]["module"] == qs[0]["function"].rsplit(".", 1)[0]
    assert all(f"`{q['function']}" in q["question"] for q in qs)


def test_the_drills_ask_about_made_up_names_and_answer_with_the_part_before_the_last_dot():
    real = {f["name"] for f in function_docs()}
    convs = sft_conversations(10_000)
    drills = [c["messages"] for c in convs if re.match(r"`[^`]+` would be in", c["messages"][1]["content"])]
    assert 0.25 < len(drills) / len(convs) < 0.4
    for question, answer in drills:
        name = answer["content"].split("`")[1]
        assert f"`{name}" in question["content"] and name not in real
        assert answer["content"].startswith(f"`{name}` would be in the `{name.rsplit('.', 1)[0]}` module")


@pytest.mark.parametrize(
    "answer,module,named",
    [("Use `json.dumps` from the `json` module.", "json", True), ("Serialize obj to a JSON formatted str.", "json", False),
     ("see jsonify", "json", False), ("It is in os.path.", "os.path", True), ("os.pathlib", "os.path", False),
     ("It is in the `os` module.", "os.path", False), ("urllib.parse.quote", "urllib.parse", True)],
)
def test_naming_the_module_means_the_whole_dotted_name_as_a_word(answer, module, named):
    assert names_module(answer, module) is named


def test_answers_decoded_together_are_the_greedy_answers_and_are_counted(model_dir):
    gen = Generator.load(model_dir, device="cpu")
    items = questions(6)
    result = ask(gen, items, max_new_tokens=6, batch=4)
    alone = [gen.complete(gen.chat_prompt([{"role": "user", "content": q["question"]}]), SamplingParams(max_new_tokens=6)).text.strip()
             for q in items]
    assert [r["answer"] for r in result["answers"]] == alone
    assert result["questions"] == 6 and result["distinct"] == len(set(alone))
    assert result["names_module"] == sum(names_module(a, q["module"]) for a, q in zip(alone, items))
