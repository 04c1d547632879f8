"""Distillation objective: the KL is the textbook forward KL, 0 for a student equal to its teacher,
few optimizer steps reduce it, and teachers with another vocabulary are one clear error."""

import pytest
import torch
import torch.nn.functional as F

from pintsize.errors import PintsizeError
from pintsize.model.config import ModelConfig
from pintsize.model.llama import Llama
from pintsize.train.distill_objective import DistillObjective, teacher_targets
from pintsize.train.objective import IGNORE_INDEX


def cfg(**kw) -> ModelConfig:
    return ModelConfig(**{"vocab_size": 100, "n_layer": 2, "d_model": 32, "n_head": 2, "n_kv_head": 1, "d_ff": 64, "block_size": 32, **kw})


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 100, (2, 17), generator=g)
    targets = ids[:, 1:].clone()
    targets[0, :3] = IGNORE_INDEX
    return {"input_ids": ids[:, :-1], "targets": targets}


# padded to 128, or T != 1: the usual CE; unpadded at T = 1: the CE from the KL's log-softmax
@pytest.mark.parametrize("vocab, T", [(100, 2.0), (128, 2.0), (128, 1.0)])
def test_kl_matches_torch_kl_div_and_is_zero_for_the_teacher_itself(vocab, T):
    torch.manual_seed(0)
    teacher, student = Llama(cfg(vocab_size=vocab)).eval(), Llama(cfg(vocab_size=vocab)).eval()
    b = batch()
    obj = DistillObjective(teacher, student.config, temperature=T, kl_ratio=0.5)
    loss, m = obj(student, b)
    with torch.no_grad():
        t = F.log_softmax(teacher(b["input_ids"])[..., :vocab] / T, -1)
        s = F.log_softmax(student(b["input_ids"])[..., :vocab] / T, -1)
        mask = b["targets"] != IGNORE_INDEX
        ref = F.kl_div(s[mask], t[mask], log_target=True, reduction="sum")
        ce = F.cross_entropy(student(b["input_ids"])[mask], b["targets"][mask], reduction="sum")
    assert torch.allclose(m["kl"], ref, rtol=1e-5)
    assert torch.allclose(m["ce"], ce, rtol=1e-5)
    assert torch.allclose(loss, 0.5 * ce + 0.5 * T**2 * ref, rtol=1e-5)
    assert obj.units(b) == 29
    _, same = DistillObjective(teacher, teacher.config)(teacher, b)
    assert same["kl"].abs() < 1e-4


def test_top_k_keeps_k_teacher_logits_and_equals_full_kl_at_full_k():
    torch.manual_seed(0)
    teacher, student = Llama(cfg()).eval(), Llama(cfg()).eval()
    b = batch()
    full = DistillObjective(teacher, student.config)(student, b)[1]["kl"]
    all_k = DistillObjective(teacher, student.config, top_k=100)(student, b)[1]["kl"]
    top5 = DistillObjective(teacher, student.config, top_k=5)(student, b)[1]["kl"]
    assert torch.allclose(full, all_k) and top5 > 0 and not torch.allclose(top5, full)
    assert top5 < full  # a coarser view of both distributions never has a larger KL
    # By hand: the teacher's 5 most likely tokens and one bucket for the other 95, from full softmaxes.
    with torch.no_grad():
        t = F.softmax(teacher(b["input_ids"])[..., :100], -1)
        s = F.softmax(student(b["input_ids"])[..., :100], -1)
    ids = t.topk(5, -1).indices
    pt, ps = t.gather(-1, ids), s.gather(-1, ids)
    pt, ps = torch.cat([pt, 1 - pt.sum(-1, keepdim=True)], -1), torch.cat([ps, 1 - ps.sum(-1, keepdim=True)], -1)
    by_hand = (pt * (pt / ps).log()).sum(-1)[b["targets"] != IGNORE_INDEX].sum()
    assert torch.allclose(top5, by_hand, rtol=1e-4)


def test_a_few_steps_reduce_the_kl():
    torch.manual_seed(0)
    teacher, student = Llama(cfg()).eval(), Llama(cfg())
    obj = DistillObjective(teacher, student.config, top_k=10)
    opt = torch.optim.AdamW(student.parameters(), lr=3e-3)
    b = batch()
    first = obj(student, b)[1]["kl"].item()
    for _ in range(20):
        loss, _ = obj(student, b)
        opt.zero_grad()
        (loss / obj.units(b)).backward()
        opt.step()
    assert obj(student, b)[1]["kl"].item() < 0.7 * first


def test_vocabulary_mismatch_is_one_clear_error():
    with pytest.raises(PintsizeError, match=r"teacher's vocabulary \(120\) differs from the student's \(100\)"):
        DistillObjective(Llama(cfg(vocab_size=120)), cfg())


def test_teacher_targets_of_bf16_logits_match_an_fp32_reference():
    # SmolLM2-like logits: large, spread over a 49k vocabulary. The reference is fp64 on the same
    # (bf16-rounded) values, so the only error left is the log-normalizer's precision.
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(2, 8, 49152, generator=g) * 3 + 12).bfloat16()
    logits[..., :64] += 8  # a clear top 64
    logp, ids = teacher_targets(logits, 49152, temperature=1.0, top_k=64)
    ref = torch.log_softmax(logits.double(), dim=-1).gather(-1, ids)
    assert logp.dtype == torch.float32
    assert (logp.double() - ref).abs().max() < 1e-4  # a bf16 log_z is off by up to ~0.06 nats here
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the same under autocast
        logp_ac, _ = teacher_targets(logits, 49152, temperature=2.0, top_k=64)
    ref2 = torch.log_softmax(logits.double() / 2, dim=-1).gather(-1, ids)
    assert (logp_ac.double() - ref2).abs().max() < 1e-4
