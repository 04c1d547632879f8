"""The eval stage as the pipeline calls it: one artifact with results.json and a manifest."""

import json

from pintsize.artifacts import read_manifest
from pintsize.data.pydoc_corpus import pydoc_documents
from pintsize.eval.config import EvalConfig
from pintsize.eval.run import run_eval


def test_run_eval_writes_every_requested_result(model_dir, eval_data, tmp_path):
    held = tmp_path / "held.jsonl"
    held.write_text("".join(json.dumps({"text": d["text"][:1500]}) + "\n" for d in pydoc_documents(limit=4)) + "{broken\n")
    config = EvalConfig(
        device="cpu", perplexity_data=str(held), harness_tasks=["pintsize_arc_easy"], harness_limit=4, num_fewshot=0,
        data_dir=str(eval_data), passkey_lengths=[200], passkey_trials=2, samples=["What is a list?"], samples_max_new_tokens=8,
    )
    out = run_eval(config, model_dir, tmp_path / "eval")
    results = json.loads((out / "results.json").read_text())
    assert results["perplexity"]["records"] == {"kept": 4, "filtered": 0, "quarantined": 1, "problems": [f"{held}:5: not valid JSON (Expecting property name enclosed in double quotes)"]}
    assert results["perplexity"]["bits_per_byte"] > 0
    assert results["harness"]["results"]["pintsize_arc_easy"]["sample_len"] == 4
    assert set(results["passkey"]["lengths"]) == {"200"}
    assert results["samples"][0]["prompt"] == "What is a list?" and results["samples"][0]["chat"] is True
    manifest = read_manifest(out)
    assert manifest["stage"] == "eval" and set(manifest["inputs"]) == {"model", "perplexity_data"}
    assert manifest["stats"]["bits_per_byte"] == results["perplexity"]["bits_per_byte"]
