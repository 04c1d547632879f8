"""Stop strings in streamed text: where the text is cut, and what is held back while undecided."""

from pintsize.serve.stopping import StopStrings


def test_find_returns_the_earliest_stop():
    s = StopStrings(["END", "\n\n"])
    assert s.find("abc\n\nxyz END") == 3
    assert s.find("no stop here") is None


def test_find_sees_a_stop_that_straddles_the_checked_part():
    s = StopStrings(["<|im_end|>"])
    text = "answer<|im_end|>"
    assert s.find(text, since=len("answer<|im_")) == len("answer")


def test_safe_length_holds_back_a_possible_stop_prefix():
    s = StopStrings(["Question:"])
    assert s.safe_length("The answer is 4.\nQuest") == len("The answer is 4.\n")
    assert s.safe_length("The answer is 4.") == len("The answer is 4.")
    assert StopStrings([]).safe_length("anything") == len("anything")
