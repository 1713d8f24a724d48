"""[[custom_scalars]] layouts from TOML and the confusion_matrix plugin's per-class accuracy,
through the real CLI, read back with TensorBoard 2.21.0's loader and its custom_scalars plugin.

One `trainscope run` (synthetic data, 4 classes) with the scalars and confusion_matrix plugins
and three [[custom_scalars]] tables: TensorBoard must serve the TOML charts merged with the
scalars plugin's own layout, and list accuracy/class/<name> for every class, each equal to the
diagonal of the confusion counts the same plugin logged as text. Bad tables are refused by
`trainscope validate` with file:line:column.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import tb_helpers
from test_custom_scalars import served_layout
from test_plugins_all import cli

CONFIG = """
[run]
name = "layout"
log_dir = "{log_dir}"
seed = 5
device = "cpu"

[trainer]
epochs = 2
batch_size = 16
lr = 0.01

[data]
dataset = "synthetic"
synthetic_samples = 96
synthetic_classes = 4

[model]
name = "mlp"

[[plugin]]
name = "scalars"
perf = false

[[plugin]]
name = "confusion_matrix"

[[custom_scalars]]
category = "per class"
title = "validation accuracy"
regex = "^accuracy/class/"
closed = true

[[custom_scalars]]
category = "train vs validation"
title = "losses (exact tags)"
tags = ["train/loss", "val/loss"]

[[custom_scalars]]
category = "per class"
title = "band"
margin = [{{value = "val/accuracy", lower = "accuracy/class/class 0", upper = "accuracy/class/class 1"}}]
"""


@pytest.fixture(scope="module")
def layout_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("layout")
    log_dir = root / "runs"
    cfg = root / "layout.toml"
    cfg.write_text(CONFIG.format(log_dir=log_dir))
    proc = subprocess.run([str(cli()), "run", str(cfg)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return log_dir


def test_tensorboard_serves_the_toml_layout_merged_with_the_plugins(layout_run):
    served = served_layout(layout_run)
    cats = {c.title: c for c in served.category}
    # The scalars plugin's two categories, then the TOML's new one; a TOML chart joins the
    # scalars plugin's "train vs validation" category.
    assert list(cats) == ["train vs validation", "training steps", "per class"], list(cats)
    tv = {ch.title: ch for ch in cats["train vs validation"].chart}
    assert "loss" in tv and "losses (exact tags)" in tv
    assert list(tv["losses (exact tags)"].multiline.tag) == ["^train/loss$", "^val/loss$"]
    per_class = cats["per class"]
    assert per_class.closed
    charts = {ch.title: ch for ch in per_class.chart}
    assert list(charts["validation accuracy"].multiline.tag) == ["^accuracy/class/"]
    series = charts["band"].margin.series
    assert [(s.value, s.lower, s.upper) for s in series] == [
        ("val/accuracy", "accuracy/class/class 0", "accuracy/class/class 1")
    ]
    # Every regex of the TOML's charts matches a tag TensorBoard lists (the charts are not empty).
    loaded = tb_helpers.load_logdir(layout_run)
    tags = set(loaded.provider.list_scalars(loaded.ctx, experiment_id=tb_helpers.EXPERIMENT, plugin_name="scalars")["layout"])
    for ch in [tv["losses (exact tags)"], *per_class.chart]:
        for rx in ch.multiline.tag:
            assert any(re.search(rx, t) for t in tags), (ch.title, rx, sorted(tags))
        for s in ch.margin.series:
            assert {s.value, s.lower, s.upper} <= tags


def test_per_class_accuracy_equals_the_confusion_counts(layout_run):
    loaded = tb_helpers.load_logdir(layout_run)
    scalars = loaded.provider.read_scalars(
        loaded.ctx, experiment_id=tb_helpers.EXPERIMENT, plugin_name="scalars", downsample=tb_helpers.ALL
    )["layout"]
    names = [f"class {c}" for c in range(4)]
    texts = tb_helpers.raw_values(layout_run / "layout")["confusion_matrix/counts/text_summary"]
    assert len(texts) == 2
    step, value = texts[-1]
    table = value.tensor.string_val[0].decode()
    rows = [ln for ln in table.splitlines() if ln.startswith("| class")]
    assert len(rows) == 4, table
    for i, name in enumerate(names):
        points = scalars[f"accuracy/class/{name}"]
        assert [p.step for p in points] == [t for t, _ in texts]
        counts = [int(x) for x in rows[i].strip("|").split("|")[1:]]
        assert rows[i].startswith(f"| {name} |")
        assert points[-1].step == step
        assert points[-1].value == pytest.approx(counts[i] / sum(counts), rel=1e-6), (name, counts)


BAD = """[[custom_scalars]]
category = "c"
title = "t1"
regex = "(unclosed"
[[custom_scalars]]
category = "c"
title = "t2"
tags = ["a"]
regex = "b"
[[custom_scalars]]
category = "c"
title = "t3"
margin = [{value = "v", lower = "l"}]
[[custom_scalars]]
category = "c"
title = "t4"
tag = ["a"]
[[custom_scalars]]
category = "c"
title = "t5"
tags = ["a"]
[[custom_scalars]]
category = "c"
title = "t5"
tags = ["b"]
"""


def test_bad_tables_are_refused_with_their_position(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(BAD)
    proc = subprocess.run([str(cli()), "validate", str(cfg)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    for expected in [
        r"bad\.toml:4:9: custom_scalars\.regex: '\(unclosed' is not a valid regular expression",
        r"bad\.toml:5:1: \[\[custom_scalars\]\] 't2': give exactly one of tags .* \(got 2\)",
        r"bad\.toml:13:11: custom_scalars\.margin: each series is \{value",
        r"bad\.toml:17:1: unknown key 'tag' in \[\[custom_scalars\]\]; did you mean 'tags'",
        r"bad\.toml:22:1: \[\[custom_scalars\]\] chart 't5' of category 'c' is declared twice \(first at \S*bad\.toml:18:1\)",
    ]:
        assert re.search(expected, out), expected + "\n" + out
