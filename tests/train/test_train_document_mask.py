"""The document mask is active in training: no loss term sees across a document boundary."""

import torch

from pintsize.data.loader import TokenLoader
from train_helpers import SEQ, make_trainer, train_config


def row_with_a_boundary(shards):
    """A real packed row (from the TokenLoader) whose second document starts at column k, 10 <= k < 54."""
    for batch in TokenLoader(shards, "train", SEQ, 8, seed=1234):
        for r in range(8):
            starts = (batch["positions"][r] == 0).nonzero().flatten().tolist()
            k = next((s for s in starts if 10 <= s < SEQ - 10), None)
            if k is not None:
                return {key: v[r : r + 1].clone() for key, v in batch.items()}, k


def losses_after(trainer, batch, k) -> torch.Tensor:
    """Per-token losses of every target from column k on, through the engine's batch
    preparation and the training objective (one target at a time: the objective sums)."""
    out = []
    for i in range(k, SEQ):
        b = dict(batch, targets=torch.full_like(batch["targets"], -100))
        b["targets"][0, i] = batch["targets"][0, i]
        with torch.no_grad():
            loss, _ = trainer.objective(trainer.model, trainer.prepare(b))
        out.append(loss)
    return torch.stack(out)


def test_changing_one_document_leaves_the_next_ones_losses_unchanged(tmp_path, shards):
    batch, k = row_with_a_boundary(shards)
    assert batch["targets"][0, k - 1] == -100  # the loader never asks to predict across the boundary
    other = dict(batch, input_ids=batch["input_ids"].clone())
    other["input_ids"][0, :k] = torch.roll(batch["input_ids"][0, :k], 3)  # document A: the same tokens, reordered
    assert not torch.equal(other["input_ids"], batch["input_ids"])
    for masked in (True, False):
        t = make_trainer(tmp_path / str(masked), shards, train_config(document_mask=masked))
        before, after = losses_after(t, batch, k), losses_after(t, other, k)
        if masked:
            assert torch.allclose(before, after, rtol=0, atol=1e-5)
        else:  # without the mask the later documents attend to A: the test can tell
            assert (before - after).abs().max() > 1e-3


def test_engine_passes_positions_only_with_the_document_mask(tmp_path, shards):
    batch, _ = row_with_a_boundary(shards)
    assert "positions" in make_trainer(tmp_path / "a", shards).prepare(batch)
    assert "positions" not in make_trainer(tmp_path / "b", shards, train_config(document_mask=False)).prepare(batch)
