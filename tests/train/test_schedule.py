"""Learning-rate schedules: values at chosen steps, computed by hand."""

import math

import pytest

from pintsize.train.config import OptimizerConfig
from pintsize.train.schedule import lr_at


def cfg(**kw):
    return OptimizerConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10, **kw)


@pytest.mark.parametrize(
    "step, expected",
    [
        (1, 1e-4),  # warm-up: 1/10 of the peak
        (5, 5e-4),
        (10, 1e-3),  # the peak, reached at the last warm-up step
        (35, 1e-4 + 9e-4 * 0.5 * (1 + math.cos(math.pi / 4))),  # a quarter into the decay: 8.6820e-4
        (60, 5.5e-4),  # half-way: the mean of peak and floor
        (110, 1e-4),  # the end: the floor
    ],
)
def test_cosine(step, expected):
    assert lr_at(step, 110, cfg(schedule="cosine")) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "step, expected",
    [(10, 1e-3), (50, 1e-3), (88, 1e-3), (99, 5.5e-4), (110, 1e-4)],  # decay: the last 22 of 110 steps
)
def test_warmup_stable_decay(step, expected):
    assert lr_at(step, 110, cfg(schedule="wsd", decay_fraction=0.2)) == pytest.approx(expected, rel=1e-12)


def test_constant_and_no_warmup():
    assert lr_at(3, 110, cfg(schedule="constant")) == pytest.approx(3e-4)
    assert lr_at(100, 110, cfg(schedule="constant")) == 1e-3
    no_warmup = OptimizerConfig(lr=1e-3, min_lr=0.0, warmup_steps=0)
    assert lr_at(1, 4, no_warmup) == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi / 4)))


def test_pints_reference_schedule():
    """The 1.5-Pints run: 2,000 warm-up steps to 4e-4, cosine to 4e-5 at step 96,180."""
    c = OptimizerConfig()
    assert lr_at(1000, 96180, c) == pytest.approx(2e-4)
    assert lr_at(2000, 96180, c) == pytest.approx(4e-4)
    assert lr_at(49090, 96180, c) == pytest.approx(2.2e-4)
    assert lr_at(96180, 96180, c) == pytest.approx(4e-5)
