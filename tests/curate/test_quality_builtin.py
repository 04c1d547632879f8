"""The built-in general quality model: it ships in the package, judges how a text is written on
topics its library never covered, adapts to a user's labels, and fails clearly when broken."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from pintsize.cli import app
from pintsize.curate.quality import QualityModel, builtin_dir, recommended_threshold, train_quality_model
from pintsize.curate.quality_features import feature_fingerprint
from pintsize.errors import DataError

# Topics the library has none of (beekeeping, sourdough, tides, knitting, sailing, gardening),
# each written once to explain and once not.
EXPOSITORY = [
    "A honey bee colony has three kinds of members. The queen is the only fertile female; she lays up to "
    "two thousand eggs a day. Workers are sterile females that clean the hive, feed the larvae and forage "
    "for nectar. Drones are males whose only task is to mate with a queen from another colony. Because a "
    "colony cannot survive without a laying queen, the workers raise a new one when the old queen fails: "
    "they feed a young larva only royal jelly, which changes how it develops.",
    "Sourdough rises because of two kinds of microbes that live in the starter. Wild yeasts ferment the "
    "sugars in flour and release carbon dioxide, which is trapped by the gluten network and makes the dough "
    "expand. Lactic acid bacteria produce acids that give the bread its sour taste and also slow the growth "
    "of moulds. For example, a starter kept in the refrigerator ferments more slowly, so it should be fed "
    "and left at room temperature for several hours before it is used.",
    "Tides are caused mainly by the gravitational pull of the Moon. The side of the Earth facing the Moon is "
    "pulled slightly more strongly than the centre of the Earth, and the far side slightly less, so the "
    "oceans bulge on both sides. As the Earth rotates, a coast passes through both bulges each day, which "
    "is why most places see two high tides and two low tides. When the Sun and the Moon are aligned, their "
    "effects add up and the range between high and low water is largest; these are called spring tides.",
    "To knit a rib pattern, you alternate knit and purl stitches across the row. A knit stitch pulls the "
    "new loop through the old one from the back, so it lies flat on the front of the fabric; a purl stitch "
    "pulls it through from the front and forms a bump. In a one-by-one rib, each knit stitch is followed by "
    "a purl stitch. On the next row the stitches are worked as they appear, which means that the columns "
    "of knit stitches line up and the fabric becomes elastic across its width.",
]
OTHER = [
    "The bees were loud that morning. Martha stood at the edge of the orchard with her veil in one hand "
    "and watched them pour out of the white box, a brown river turning in the sun. 'They're leaving,' she "
    "said. Her brother did not answer. He was looking at the empty road, the way he had looked at it every "
    "morning since the letter came, and she knew he was not thinking about the bees at all.",
    "sourdough loaf 4.50\nrye bread 3.20\nbaguette 1.80\ncroissant x6 5.40\ncinnamon roll 2.10\n"
    "seeded batch 3.90\nfocaccia 4.20\nbrioche 3.75\nspelt loaf 4.10\nbagels x4 3.60\n"
    "total 36.55\ncash 40.00\nchange 3.45",
    "The tide comes in, the tide goes out,\nthe grey gulls wheel and cry and shout,\n"
    "and I stand here where the waters meet\nwith cold salt sand beneath my feet.\n\n"
    "The moon pulls hard, the moon pulls slow,\nand where it leads the waters go,\n"
    "and I would follow if I could\nto where the harbour lantern stood.",
    "anna: did u finish the scarf??\nben: lol no. dropped a stitch again\nanna: noooo\n"
    "ben: its fine its fine i'll just call it a design choice\nanna: haha ok\nanna: are we still on for "
    "saturday\nben: yes!! bring the green yarn pls\nanna: which green\nben: the nice one\nanna: ok",
]


@pytest.fixture(scope="module")
def builtin() -> QualityModel:
    return QualityModel.load("builtin:expository")


def test_the_builtin_model_ships_in_the_package_small_and_without_pickle():
    d = builtin_dir("expository")
    files = {p.name: p.stat().st_size for p in d.iterdir()}
    assert set(files) == {"quality_model.json", "weights.npz"}
    assert sum(files.values()) < 4_000_000
    with np.load(d / "weights.npz", allow_pickle=False) as z:  # plain arrays: loading runs no code
        assert z["coef"].dtype == np.float32
    meta = json.loads((d / "quality_model.json").read_text())
    assert meta["features"] == "style" and 0 < meta["recommended_threshold"] < 1
    assert recommended_threshold("builtin:expository") == meta["recommended_threshold"]


def test_the_shipped_model_reads_the_features_the_scorer_computes():
    """The model stores the fingerprint of the features it was trained on (scripts/train_builtin_quality.py):
    a change to quality_features that the shipped model never saw must come with a retrained model."""
    meta = json.loads((builtin_dir("expository") / "quality_model.json").read_text())
    assert meta["feature_fingerprint"] == feature_fingerprint(meta["n_features"], meta["max_chars"])


def test_it_separates_explaining_from_not_on_topics_it_never_saw(builtin):
    exp, other = builtin.score(EXPOSITORY), builtin.score(OTHER)
    # Every explanation outranks every text on the same topics that explains nothing, by a margin.
    # (The recommended threshold, set on library pages of 1-8 KB, is above these one-paragraph
    # explanations: what holds for short text is the ranking; see benchmarks/RESULTS.md.)
    assert exp.min() > other.max() + 0.1, (exp.round(3), other.round(3))
    assert (other < builtin.metadata["recommended_threshold"]).all()


def test_degenerate_text_scores_zero(builtin):
    assert (builtin.score(["", "too short to judge", "qzxv wpfl krrt mnbv " * 30]) == 0).all()


def test_adapting_with_base_moves_scores_toward_the_labels(builtin):
    # A user who counts poems as wanted text: label 6 poems 1 and 6 plain prose explanations 0 ...
    poems = [OTHER[2]] + [
        f"The {w} is {c} and the {w} is {d},\nand all the {w}s go {e} at night;\n"
        f"I watched them {e} a{'' if i % 2 else 'nd'} {d} the light,\nand the {w} went {c} in my sight."
        for i, (w, c, d, e) in enumerate([("rose", "red", "bright", "dance"), ("star", "high", "near", "sing"),
                                          ("river", "cold", "slow", "glide"), ("hill", "green", "steep", "sleep"),
                                          ("bell", "loud", "clear", "ring")])
    ]
    labels = [{"text": t, "label": 1} for t in poems] + [{"text": t, "label": 0} for t in EXPOSITORY] + [
        {"text": EXPOSITORY[0].replace("bee", "wasp"), "label": 0}, {"text": EXPOSITORY[2].replace("Moon", "moon"), "label": 0},
    ]
    unseen_poem = "The sea is wide and the sea is deep,\nand all the ships go down to sleep;\nI watched them sail and the night was long,\nand the wind went by with a whispered song."
    before = builtin.score([unseen_poem])[0]
    adapted = train_quality_model(labeled_records=labels, base="builtin:expository", prior_c=4.0)
    assert adapted.features == "style" and adapted.metadata["base"]["name"] == "builtin:expository"
    assert adapted.score([unseen_poem])[0] > before + 0.2
    assert adapted.score(poems).mean() > builtin.score(poems).mean()
    assert adapted.score(EXPOSITORY).mean() < builtin.score(EXPOSITORY).mean()
    # The base itself is untouched, and the existing signature (no base) still trains from scratch.
    assert builtin.score([unseen_poem])[0] == before


def test_a_missing_or_unknown_or_corrupt_model_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match=r"builtin:nope: no such built-in quality model \(known: builtin:expository\)"):
        QualityModel.load("builtin:nope")
    with pytest.raises(DataError, match="not a quality model"):
        QualityModel.load(tmp_path / "nothing")
    broken = tmp_path / "broken"
    shutil.copytree(builtin_dir("expository"), broken)
    (broken / "weights.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DataError, match="broken quality model"):
        QualityModel.load(broken)
    shutil.copy(builtin_dir("expository") / "weights.npz", broken / "weights.npz")
    (broken / "quality_model.json").write_text('{"format": 2, "features": "style", "n_features": 5}')
    with pytest.raises(DataError, match="unsupported or inconsistent model"):
        QualityModel.load(broken)
    result = CliRunner().invoke(app, ["quality", "score", str(broken), str(tmp_path), str(tmp_path / "out")])
    # main() prints a DataError as one line and exits 2; nothing was written.
    assert isinstance(result.exception, DataError) and "unsupported or inconsistent model" in str(result.exception)
    assert not (tmp_path / "out").exists()


def test_a_style_model_of_another_layout_is_named_not_a_crash(tmp_path):
    """A model trained before a layout statistic was added (25 columns, the code now computes more):
    loading it says so and what to do, instead of a numpy broadcast error at the first score."""
    old = tmp_path / "old"
    shutil.copytree(builtin_dir("expository"), old)
    with np.load(old / "weights.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["layout_mean"], arrays["layout_scale"] = arrays["layout_mean"][:-1], arrays["layout_scale"][:-1]
    arrays["coef"] = arrays["coef"][:-1]  # one layout weight fewer, as such a model stores
    np.savez(old / "weights.npz", **arrays)
    n = len(arrays["layout_mean"])
    with pytest.raises(DataError, match=rf"old: trained on {n} layout statistics of another pintsize version; this one computes {n + 1}"):
        QualityModel.load(old)


def test_a_user_model_of_other_style_features_is_refused_at_load(tmp_path):
    """A model trained here stores the fingerprint of the features it read; when a later pintsize
    computes other features of the same width (a changed token class or statistic), its weights
    would score garbage without any error, so loading refuses it. A model saved before fingerprints
    (none stored) still loads."""
    labels = [{"text": t, "label": 1} for t in EXPOSITORY] + [{"text": t, "label": 0} for t in OTHER]
    model = train_quality_model(labeled_records=labels, base="builtin:expository")
    model.save(tmp_path / "mine")
    meta_path = tmp_path / "mine" / "quality_model.json"
    meta = json.loads(meta_path.read_text())
    assert meta["feature_fingerprint"] == feature_fingerprint(meta["n_features"], meta["max_chars"])
    assert QualityModel.load(tmp_path / "mine").score(EXPOSITORY[:1])[0] == pytest.approx(model.score(EXPOSITORY[:1])[0])
    meta_path.write_text(json.dumps(meta | {"feature_fingerprint": "0123456789abcdef"}))
    with pytest.raises(DataError, match=r"mine: trained on the style features of another pintsize version \(feature_fingerprint 0123456789abcdef\)"):
        QualityModel.load(tmp_path / "mine")
    meta_path.write_text(json.dumps({k: v for k, v in meta.items() if k != "feature_fingerprint"}))
    assert QualityModel.load(tmp_path / "mine").features == "style"
