"""The CLI commands `generate`, `chat` and `export gguf` (the server is tested in test_server.py)."""

import os
import subprocess
import sys

from typer.testing import CliRunner

from pintsize.cli import app
from pintsize.serve.generate import Generator
from pintsize.serve.sampling import SamplingParams

runner = CliRunner()


def test_generate_prints_the_greedy_continuation(model_dir):
    result = runner.invoke(app, ["generate", str(model_dir), "The json module can", "--max-new-tokens", "8", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    expected = Generator.load(model_dir, device="cpu").complete("The json module can", SamplingParams(max_new_tokens=8)).text
    assert result.stdout.startswith(expected)


def test_chat_answers_until_exit(model_dir):
    result = runner.invoke(app, ["chat", str(model_dir), "--temperature", "0", "--max-new-tokens", "6", "--device", "cpu"], input="Hello\n/exit\n")
    assert result.exit_code == 0, result.output
    expected = Generator.load(model_dir, device="cpu").chat([{"role": "user", "content": "Hello"}], SamplingParams(max_new_tokens=6)).text
    assert f"assistant> {expected}\n" in result.stdout


def test_bad_setting_is_one_clear_error_line(model_dir):
    env = {**os.environ, "COLUMNS": "300"}  # no line wrapping of the message
    r = subprocess.run([sys.executable, "-m", "pintsize", "generate", str(model_dir), "hi", "--top-p", "2"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "'--top-p': 2 must be at most 1" in r.stderr and "Traceback" not in r.stderr


def test_export_gguf_writes_the_file(model_dir, tmp_path):
    result = runner.invoke(app, ["export", "gguf", str(model_dir), str(tmp_path / "m.gguf")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.gguf").read_bytes()[:4] == b"GGUF"


def test_serve_command_answers_with_its_api_key(model_dir):
    import re
    import time

    import httpx

    env = {**os.environ, "SERVE_TEST_KEY": "k-123", "COLUMNS": "300"}
    proc = subprocess.Popen([sys.executable, "-m", "pintsize", "serve", str(model_dir), "--port", "0", "--name", "tiny",
                             "--api-key-env", "SERVE_TEST_KEY", "--device", "cpu"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline, url = time.monotonic() + 60, None
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if m := re.search(r"Uvicorn running on (http://\S+)", line):
                url = m.group(1)
        assert url, "the server did not start"
        assert httpx.get(f"{url}/v1/models", timeout=10).status_code == 401
        models = httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer k-123"}, timeout=10).json()
        assert models["data"][0]["id"] == "tiny"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_training_stage_artifact_stands_for_its_model(model_dir, tmp_path):
    """`pintsize generate runs/x/sft ...` uses runs/x/sft/model; a wrong path says what it is."""
    import shutil

    stage = tmp_path / "sft"
    shutil.copytree(model_dir, stage / "model")
    result = runner.invoke(app, ["generate", str(stage), "The json module can", "--max-new-tokens", "8", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(Generator.load(model_dir, device="cpu").complete("The json module can", SamplingParams(max_new_tokens=8)).text)
    assert Generator.load(stage, device="cpu").name == "sft"  # the stage names the model (server, MT-Bench logs)
    env = {**os.environ, "COLUMNS": "300"}
    for path, why in ((tmp_path / "missing", "no such file or directory"), (tmp_path, "not a model directory (no model_config.json)")):
        r = subprocess.run([sys.executable, "-m", "pintsize", "generate", str(path), "hi"], capture_output=True, text=True, env=env)
        assert r.returncode != 0 and f"{path}: {why}" in r.stderr and "Traceback" not in r.stderr, r.stderr
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")  # a Hugging Face model directory
    r = subprocess.run([sys.executable, "-m", "pintsize", "chat", str(hf)], capture_output=True, text=True, env=env)
    assert f"it looks like a Hugging Face model: `pintsize import hf {hf} OUT` converts it" in " ".join(r.stderr.split())
