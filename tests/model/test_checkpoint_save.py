"""Writing a model's weights: a failed write (a full disk) reaches the user as one line naming the file."""

from __future__ import annotations

import errno

import pytest
from safetensors import SafetensorError

import pintsize.model.checkpoint as checkpoint
from pintsize.errors import file_error_message
from pintsize.model.checkpoint import load_model, save_model
from pintsize.model.config import get_config
from pintsize.model.llama import Llama


def test_a_full_disk_is_an_oserror_naming_the_weights_file(tmp_path, monkeypatch):
    cfg = get_config("tiny", vocab_size=64, n_layer=1)
    model = Llama(cfg)
    save_model(model, cfg, tmp_path / "ok")  # the real writer first: it round-trips
    assert load_model(tmp_path / "ok").config == cfg

    def full(*args, **kwargs):  # the message safetensors gave on this machine's full disk
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(checkpoint, "save_file", full)
    with pytest.raises(OSError) as caught:
        save_model(model, cfg, tmp_path / "full")
    weights = tmp_path / "full" / checkpoint.WEIGHTS_FILE
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(weights)
    assert file_error_message(caught.value) == f"{weights}: no space left on the device"


def test_other_safetensors_errors_are_not_disguised(tmp_path, monkeypatch):
    def bad(*args, **kwargs):
        raise SafetensorError("tensor is not contiguous")

    monkeypatch.setattr(checkpoint, "save_file", bad)
    cfg = get_config("tiny", vocab_size=64, n_layer=1)
    with pytest.raises(SafetensorError, match="not contiguous"):
        save_model(Llama(cfg), cfg, tmp_path / "m")
