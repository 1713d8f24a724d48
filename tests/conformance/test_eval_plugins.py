"""The evaluation plugins (embeddings, pr_curves, confusion_matrix) through the real CLI, read
back by TensorBoard 2.21.0's own code.

One `trainscope run` with the three plugins on a small synthetic problem. Then:
  - the projector: TensorBoard's ProjectorPlugin (over the log dir) lists the embedding of
    each epoch and serves its tensor, labels and sprite;
  - PR curves: every class's tensor is float32 [6, num_thresholds] with the pr_curves
    metadata, and its counts agree with the confusion matrix's exact counts (positives per
    class) and with its own precision / recall rows;
  - the confusion matrix image has the documented size and every cell the colour of its
    normalised value on ColorBrewer's Blues scale, recomputed here from the counts text.
The three plugins read the validation labels independently, so their agreement is evidence.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import tb_helpers as tbh

RUN = "eval"
SAMPLES = 256  # train; validation gets a quarter
VAL = SAMPLES // 4
CLASSES = 5
BATCH = 32
EPOCHS = 2
THRESHOLDS = 33

CONFIG = """
[run]
name = "eval"
log_dir = "{log_dir}"
seed = 2
device = "cpu"

[trainer]
epochs = {epochs}
batch_size = {batch}
optimizer = "adam"
lr = 0.003
checkpoint_every_n_epochs = 0

[data]
dataset = "synthetic"
synthetic_samples = {samples}
synthetic_classes = {classes}

[model]
name = "simple_cnn"

[[plugin]]
name = "embeddings"
on_error = "abort"
samples = 1000

[[plugin]]
name = "pr_curves"
on_error = "abort"
num_thresholds = {thresholds}

[[plugin]]
name = "confusion_matrix"
on_error = "abort"
"""


def cli() -> Path:
    build = os.environ.get("TRAINSCOPE_BUILD_DIR")
    if not build and os.environ.get("TRAINSCOPE_TOOLS_DIR"):
        build = str(Path(os.environ["TRAINSCOPE_TOOLS_DIR"]).parent)
    exe = Path(build or tbh.REPO_ROOT / "build") / "core" / "trainscope"
    if not exe.is_file():
        pytest.fail(f"{exe} not found: build the project first (ninja -C build)", pytrace=False)
    return exe


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_plugins")
    cfg = root / "eval.toml"
    cfg.write_text(
        CONFIG.format(
            log_dir=root / "runs", epochs=EPOCHS, batch=BATCH, samples=SAMPLES, classes=CLASSES, thresholds=THRESHOLDS
        )
    )
    proc = subprocess.run([str(cli()), "run", str(cfg)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"trainscope run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    run_dir = root / "runs" / RUN
    loaded = tbh.load_logdir(run_dir)
    assert "." in loaded.runs(), loaded.runs()
    assert not tbh.log_problems(loaded.log), tbh.log_problems(loaded.log)
    return run_dir, loaded


def steps() -> list[int]:
    per_epoch = -(-SAMPLES // BATCH)
    return [per_epoch * (e + 1) for e in range(EPOCHS)]


def class_names() -> list[str]:
    return [f"class {c}" for c in range(CLASSES)]  # the synthetic dataset's names


def counts_table(loaded) -> dict[int, np.ndarray]:
    """step -> [C, C] counts parsed from the markdown table (rows true, columns predicted)."""
    out = {}
    for step, arr in loaded.tensors("text")["confusion_matrix/counts/text_summary"]:
        text = arr.item().decode() if arr.ndim == 0 else arr.reshape(-1)[0].decode()
        rows = [ln for ln in text.splitlines() if ln.startswith("|")][2:]
        cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
        assert [r[0] for r in cells] == class_names(), text
        out[step] = np.array([[int(v) for v in r[1:]] for r in cells], dtype=np.int64)
    return out


# ---- projector ----------------------------------------------------------------------------


def test_projector_serves_one_embedding_per_epoch(run):
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.projector import projector_plugin
    from urllib.parse import urlencode
    from werkzeug import test as wtest

    run_dir, loaded = run
    plugin = projector_plugin.ProjectorPlugin(base_plugin.TBContext(logdir=str(run_dir), data_provider=loaded.provider))
    apps = plugin.get_plugin_apps()

    def get(route, **args):
        resp = wtest.Client(apps[route]).get(route + "?" + urlencode(args))
        assert resp.status_code == 200, (route, args, resp.get_data())
        return resp.get_data()

    info = json.loads(get("/info", run="."))
    by_name = {e["tensorName"]: e for e in info["embeddings"]}
    assert set(by_name) == {f"embeddings/features:{s:05d}" for s in steps()}
    counts = counts_table(loaded)
    for step in steps():
        name = f"embeddings/features:{step:05d}"
        e = by_name[name]
        assert [int(d) for d in e["tensorShape"]] == [VAL, 84]  # simple_cnn's fc2: 84 features
        tensor = np.frombuffer(get("/tensor", run=".", name=name), dtype=np.float32).reshape(VAL, 84)
        assert np.isfinite(tensor).all() and (tensor >= 0).all() and tensor.any()  # ReLU outputs
        labels = get("/metadata", run=".", name=name).decode().split("\n")[:-1]
        assert len(labels) == VAL
        # Every validation sample is there: its labels are the confusion matrix's row sums.
        per_class = np.array([labels.count(n) for n in class_names()])
        np.testing.assert_array_equal(per_class, counts[step].sum(axis=1))
        assert [int(d) for d in e["sprite"]["singleImageDim"]] == [28, 28]
        sprite = tbh.decode_png(get("/sprite_image", run=".", name=name))
        assert sprite.shape[:2] == (int(np.ceil(np.sqrt(VAL))) * 28,) * 2


# ---- PR curves ------------------------------------------------------------------------------


def test_pr_curves_have_shape_6_by_thresholds_and_agree_with_the_counts(run):
    from tensorboard.plugins.pr_curve import metadata as prm

    _, loaded = run
    got = loaded.tensors("pr_curves")
    assert set(got) == {f"pr_curves/{n}" for n in class_names()}
    counts = counts_table(loaded)
    for c, name in enumerate(class_names()):
        tag = f"pr_curves/{name}"
        md = prm.parse_plugin_metadata(loaded.metadata(".", tag).plugin_data.content)
        assert md.num_thresholds == THRESHOLDS
        assert [s for s, _ in got[tag]] == steps()
        for step, arr in got[tag]:
            assert arr.dtype == np.float32 and arr.shape == (6, THRESHOLDS), arr.shape
            tp, fp, tn, fn, precision, recall = arr.astype(np.float64)
            positives = counts[step][c].sum()
            assert tp[0] + fn[0] == positives and tp[0] + fp[0] == VAL and fn[0] == 0 and tn[0] == 0
            assert np.all(tp + fn == positives) and np.all(fp + tn == VAL - positives)
            assert np.all(np.diff(tp) <= 0) and np.all(np.diff(fp) <= 0)  # fewer above higher thresholds
            np.testing.assert_array_equal(precision, (tp / np.maximum(1e-7, tp + fp)).astype(np.float32))
            np.testing.assert_array_equal(recall, (tp / np.maximum(1e-7, tp + fn)).astype(np.float32))
            # The highest threshold's true positives are among the argmax hits of class c.
            assert tp[-1] <= counts[step][c, c]


# ---- confusion matrix image -----------------------------------------------------------------

BLUES = np.array(
    [[247, 251, 255], [222, 235, 247], [198, 219, 239], [158, 202, 225], [107, 174, 214],
     [66, 146, 198], [33, 113, 181], [8, 81, 156], [8, 48, 107]],
    dtype=np.float64,
)


def blues(v: float) -> np.ndarray:
    x = min(max(v, 0.0), 1.0) * (len(BLUES) - 1)
    i = min(int(x), len(BLUES) - 2)
    return np.floor(BLUES[i] + (BLUES[i + 1] - BLUES[i]) * (x - i) + 0.5).astype(np.uint8)


def test_confusion_matrix_image_has_the_documented_size_and_cell_colours(run):
    _, loaded = run
    counts = counts_table(loaded)
    assert sorted(counts) == steps()
    for step, m in counts.items():
        assert m.sum() == VAL
    images = loaded.blobs("images")["confusion_matrix"]
    assert [s for s, _ in images] == steps()
    # README: cell = 4 * 12 + 8 (values "0.00"); label = min(12, longest name) * 12 + 8;
    # side = 24 + label + C * cell + 8. The matrix starts at (24 + label, 24 + label).
    cell = 4 * 12 + 8
    label = min(12, max(len(n) for n in class_names())) * 12 + 8
    side = 24 + label + CLASSES * cell + 8
    for step, blobs in images:
        w, h = (int(b) for b in blobs[:2])
        assert (w, h) == (side, side)
        img = tbh.decode_png(blobs[2])
        assert img.shape == (side, side, 3)
        m = counts[step].astype(np.float64)
        rows = m.sum(axis=1, keepdims=True)
        norm = np.where(rows > 0, m / np.maximum(rows, 1), 0.0)  # sklearn's normalize="true"
        vmax = norm.max()
        origin = 24 + label
        for i in range(CLASSES):
            for j in range(CLASSES):
                corner = img[origin + i * cell + 1, origin + j * cell + 1]  # no text at the corner
                np.testing.assert_array_equal(corner, blues(norm[i, j] / vmax), err_msg=f"step {step} cell {i},{j}")
        # Text is drawn: each cell holds pixels of another colour than its background.
        for i in range(CLASSES):
            y, x = origin + i * cell, origin + i * cell
            block = img[y:y + cell, x:x + cell].reshape(-1, 3)
            assert len(np.unique(block, axis=0)) >= 2
