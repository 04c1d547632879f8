"""The report's lineage table summarizes a stage with many inputs (count, kinds, total size, one
combined hash) and keeps the full list in a <details> element; a stage with a few lists them inline."""

import hashlib
import re

from pintsize.artifacts import ArtifactWriter, hash_file
from pintsize.report.html import write_report


def _quality_run(tmp_path, n_pos=400, n_neg=305):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    inputs = {}
    for kind, n in (("positive", n_pos), ("negative", n_neg)):
        for i in range(n):
            f = seeds / f"{kind}-{i}.txt"
            f.write_text(f"{kind} seed document {i}\n" * (i % 7 + 1))
            inputs[f"{kind}:{i}"] = f
    run = tmp_path / "runs" / "demo"
    with ArtifactWriter(run / "quality", "quality", {"seed": 0}, inputs=inputs) as art:
        (art.dir / "model.txt").write_text("weights")
    return run, inputs


def test_many_inputs_are_summarized_with_the_full_list_folded(tmp_path):
    run, inputs = _quality_run(tmp_path)
    page = write_report(run).read_text()
    lineage = page[page.index("<h2>Lineage</h2>"):]
    row = lineage[lineage.index("<tr><td>quality"):]
    visible, folded = row.split("<details>", 1)

    expected_size = sum(p.stat().st_size for p in inputs.values())
    # the combined hash, computed independently: sha256 over the sorted "name NUL sha256(file)" lines
    lines = sorted(f"{name}\0{hashlib.sha256(p.read_bytes()).hexdigest()}\n" for name, p in inputs.items())
    combined = hashlib.sha256("".join(lines).encode()).hexdigest()
    assert "705 inputs (positive 400, negative 305)" in visible
    assert f"{expected_size / 1024:.1f} KiB" in visible
    assert f"combined <code>{combined[:12]}</code>" in visible
    assert len(re.findall(r"<code>[0-9a-f]{10,}</code>", visible)) == 2  # the stage's own hash and the combined one

    listed = re.findall(r"<td><code>([0-9a-f]{16})</code></td>", folded)
    assert sorted(listed) == sorted(hash_file(p)[:16] for p in inputs.values())
    assert folded.index("</details>") > 0


def test_a_few_inputs_stay_inline(tmp_path):
    run, inputs = _quality_run(tmp_path, n_pos=2, n_neg=1)
    page = write_report(run).read_text()
    row = page[page.index("<tr><td>quality"):]
    row = row[: row.index("</tr>")]
    assert "<details>" not in row
    for name, p in inputs.items():
        assert f"{name} <code>{hash_file(p)[:10]}</code>" in row
    assert f"{sum(p.stat().st_size for p in inputs.values())} B" in row
