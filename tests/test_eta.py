"""Time left: a stage's from its average rate so far; a run's from the stages still to come, naming
those it has no time for instead of guessing them."""

from pintsize.eta import RunClock, duration, remaining


def test_durations_read_as_a_person_would_say_them():
    assert [duration(s) for s in (0, 42.4, 185.8, 3725)] == ["0s", "42s", "3m06s", "1h02m"]


def test_a_stage_has_no_eta_before_its_first_step_then_the_mean_rate():
    assert remaining(0, 400, 5.0) is None
    assert remaining(100, 400, 50.0) == 150.0  # 300 steps at 0.5 s


def test_a_run_counts_what_it_knows_and_names_what_it_does_not():
    clock = RunClock(["curate", "pretrain", "sft", "eval"], {"curate": 20.0, "pretrain": None, "sft": 30.0, "eval": None})
    assert clock.describe() == "run ETA >= 50s + pretrain, eval (not timed yet)"
    clock.start("pretrain")  # curate was skipped
    assert clock.describe() == "run ETA >= 30s + pretrain, eval (not timed yet)"
    assert clock.describe(current_left=100.0) == "run ETA >= 2m10s + eval (not timed yet)"
    clock.start("eval")
    assert clock.describe() == "run ETA unknown (eval not timed yet)"
    assert clock.describe(current_left=0.0) == "run ETA 0s"
