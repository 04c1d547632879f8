"""The style featurizer: content words become shapes, function words and punctuation stay, line
starts become tokens; layout statistics computed by hand; a batch gives what each text alone gives."""

from __future__ import annotations

import numpy as np
import pytest

from pintsize.curate.quality_features import LAYOUT_NAMES, StyleTokenizer, layout, style_counts, style_features


def test_content_words_become_shapes_and_function_words_stay():
    tok = StyleTokenizer()
    assert tok("The `fork()` call creates a new process.\n\n    pid = fork()") == (
        "<l> the ` ww ( ) ` ww w-s a w w-s . <pin> w = ww ( )"
    )
    # Capitalised, all-caps, numbers, camelCase, endings as a crude word class.
    assert tok("Alice quickly wrote NASA 42 reports reading getValue, annotated.") == "<l> Ww w-ly ww WW 0 w-s w-ing wW , w-ed ."
    # Each line start is a token: plain, indented, after a blank line.
    assert tok("- first item\n2. second\n\n\tdone") == "<l> - first ww <l> 0 . second <pin> done"


def test_two_texts_on_different_topics_written_alike_tokenize_alike():
    tok = StyleTokenizer()
    kernel = "The kernel schedules a thread when its timer expires."
    bakery = "The baker kneads a loaf when its dough rises."
    assert tok(kernel) == tok(bakery) == "<l> the ww w-s a ww when its ww w-s ."
    # The same topic written as a configuration line is another stream.
    assert tok("kernel.sched_timer = 4") == "<l> ww . w-ed _ ww = 0"


def test_layout_statistics_by_hand():
    text = "Intro\n\n- one thing.\n- two things.\n    code = 1;\nWhat is it? It is a test."
    v = dict(zip(LAYOUT_NAMES, layout(text)))
    lines = 5  # non-blank lines
    assert v["bullet_share"] == pytest.approx(2 / lines)
    assert v["indented_share"] == pytest.approx(1 / lines)
    assert v["blank_line_share"] == pytest.approx(1 / 6)
    assert v["code_line_share"] == pytest.approx(1 / lines)  # "code = 1;" ends with ";"
    assert v["heading_share"] == pytest.approx(1 / lines)  # "Intro": short, capitalised, no end punctuation
    assert v["question_share"] == pytest.approx(1 / 4)  # 4 sentences, 1 question mark
    assert v["digit_share"] == pytest.approx(1 / len(text))
    assert v["log_chars"] == pytest.approx(np.log1p(len(text)))
    assert v["definitions_per_sentence"] == pytest.approx(1 / 4)  # "is a"


def test_speaker_changes_mark_dialogue_not_field_lines():
    chat = ("User: How do I list the files here?\n"
            "Assistant: Use the ls command, for example ls -l.\n"
            "User: And the hidden ones as well?\n"
            "Assistant: Add the -a flag to the command.")
    # Four labelled turns of five words or more, the label changing three times, over four lines.
    assert dict(zip(LAYOUT_NAMES, layout(chat)))["speaker_change_rate"] == pytest.approx(np.log1p(10 * 3 / 4))
    # Field lines alternate labels too, but are short: not turns.
    fields = "Function: integrate (expr, x)\nCategories: Integral calculus\nFunction: diff (expr, x)\nCategories: Differential calculus"
    assert dict(zip(LAYOUT_NAMES, layout(fields)))["speaker_change_rate"] == 0.0
    # One speaker throughout is a monologue, not a dialogue.
    notes = "Note: the cache is cleared on every restart.\nNote: the log is rotated once a day."
    assert dict(zip(LAYOUT_NAMES, layout(notes)))["speaker_change_rate"] == 0.0


def test_statement_lines_are_counted_by_hand():
    code = "import os\n\ndef size(path):\n    # bytes\n    return os.stat(path).st_size\n"
    # 6 lines ("\n" x 5, plus one): "import os", "def size(", "return ..." open with a statement.
    assert dict(zip(LAYOUT_NAMES, layout(code)))["statement_line_share"] == pytest.approx(3 / 6)
    # English lines that start with the same words are not statements: "Return", "Import", "class of".
    prose = "Return to the menu when done.\nImport the data first.\nA class of problems remains open."
    assert dict(zip(LAYOUT_NAMES, layout(prose)))["statement_line_share"] == 0.0


def test_style_counts_are_hashed_one_to_three_grams():
    x = style_counts(["The cat sat.", "The dog ran."], n_features=2**10, max_chars=1000)
    # "<l> the w w . " -> 5 unigrams + 4 bigrams + 3 trigrams = 12 n-gram occurrences; the two
    # texts read the same, so their rows are equal.
    assert x.shape == (2, 2**10) and x[0].sum() == 12
    assert (x[0] != x[1]).nnz == 0


def test_a_batch_gives_what_each_text_gives_alone():
    texts = ["Intro\n\n- one thing.\n    code = 1;", "What is it? It is a test.\nAnd more: yes!", "x"]
    together = style_features(texts, 2**12, 1000)
    for i, t in enumerate(texts):
        alone = style_features([t], 2**12, 1000)
        np.testing.assert_allclose(together.layout[i], alone.layout[0])
        assert (together.counts[i] != alone.counts[0]).nnz == 0
        np.testing.assert_array_equal(together.word_buckets[i], alone.word_buckets[0])
