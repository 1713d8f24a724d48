"""The plugins that look inside the model (activations, feature_maps, gradcam) through the real
CLI, read back by the real TensorBoard 2.21.0: the tags each one lists, the decoded image
sizes (feature-map grids and Grad-CAM panels follow the geometry their READMEs document),
histograms with one count per activation element, and the steps they were logged at.

The run: simple_cnn on synthetic 1x28x28 images, 4 steps per epoch, 2 epochs. simple_cnn's
taps are conv1 [6, 24, 24], conv2 [16, 8, 8], fc1 [120], features [84] per sample.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import tb_helpers

RUN = "vision"
BATCH = 16
SAMPLES = 64  # 4 steps per epoch
EPOCHS = 2

CONFIG = """
[run]
name = "vision"
log_dir = "{log_dir}"
seed = 5
device = "cpu"

[trainer]
epochs = {epochs}
batch_size = {batch}
optimizer = "adam"
lr = 0.003
log_every_n_steps = 4
checkpoint_every_n_epochs = 0

[data]
dataset = "synthetic"
synthetic_samples = {samples}
synthetic_classes = 4

[model]
name = "simple_cnn"

[[plugin]]
name = "activations"
log_every_n_steps = 3
exclude = ["fc1"]

[[plugin]]
name = "feature_maps"
channels = 10
padding = 2

[[plugin]]
name = "gradcam"
samples = 3
"""

# Per-sample activation shapes of simple_cnn on 1x28x28 inputs.
SHAPES = {"conv1": (6, 24, 24), "conv2": (16, 8, 8), "fc1": (120,), "features": (84,)}


def cli() -> Path:
    build = Path(os.environ.get("TRAINSCOPE_BUILD_DIR", tb_helpers.REPO_ROOT / "build"))
    exe = build / "core" / "trainscope"
    if not exe.is_file():
        pytest.fail(f"{exe} not found: build it first (ninja -C build trainscope bundled_plugins)", pytrace=False)
    return exe


@pytest.fixture(scope="module")
def vision_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("vision")
    log_dir = root / "runs"
    cfg = root / "vision.toml"
    cfg.write_text(CONFIG.format(log_dir=log_dir, epochs=EPOCHS, batch=BATCH, samples=SAMPLES))
    proc = subprocess.run([str(cli()), "run", str(cfg)], capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"trainscope run failed ({proc.returncode}):\n{out}"
    assert "failed in" not in out and "could not be created" not in out, out
    loaded = tb_helpers.load_logdir(log_dir)
    assert not tb_helpers.log_problems(loaded.log), tb_helpers.log_problems(loaded.log)
    assert RUN in loaded.runs(), loaded.runs()
    return loaded


def grid_size(k: int, h: int, w: int, pad: int) -> tuple[int, int]:
    """(height, width) of a feature_maps grid: 8 tiles per row, `pad` pixels between tiles."""
    cols = min(k, 8)
    rows = -(-k // cols)
    return rows * h + (rows - 1) * pad, cols * w + (cols - 1) * pad


def test_activations_tags_steps_and_histogram_counts(vision_run):
    steps_per_epoch = SAMPLES // BATCH
    logged = [s for s in range(1, EPOCHS * steps_per_epoch + 1) if s % 3 == 0]
    layers = ["conv1", "conv2", "features"]  # fc1 excluded
    scalars = vision_run.scalars(RUN)
    want_scalars = {f"activations/{l}/{s}" for l in layers for s in ("mean", "std", "zero_fraction")}
    got_scalars = {t for t in scalars if t.startswith("activations/")}
    assert got_scalars == want_scalars
    for tag in want_scalars:
        assert [s for s, _ in scalars[tag]] == logged, tag
        values = np.array([v for _, v in scalars[tag]])
        assert np.all(np.isfinite(values)), tag
        if tag.endswith("zero_fraction"):
            assert np.all((values >= 0) & (values <= 1)), tag
        if tag.endswith("/std"):
            assert np.all(values >= 0), tag
    hist = vision_run.tensors("histograms", RUN)
    assert {t for t in hist if t.startswith("activations/")} == {f"activations/{l}" for l in layers}
    for layer in layers:
        series = hist[f"activations/{layer}"]
        assert [s for s, _ in series] == logged
        per_sample = int(np.prod(SHAPES[layer]))
        for _, buckets in series:
            # [k, 3] rows (left, right, count): the counts add up to the batch's element count.
            assert buckets.ndim == 2 and buckets.shape[1] == 3
            assert buckets[:, 2].sum() == pytest.approx(BATCH * per_sample)


def test_feature_map_images_have_the_documented_grid_size(vision_run):
    blobs = vision_run.blobs("images", RUN)
    tags = {t for t in blobs if t.startswith("feature_maps/")}
    assert tags == {"feature_maps/conv1", "feature_maps/conv2"}  # the 4-D taps only
    steps_per_epoch = SAMPLES // BATCH
    for tag in tags:
        c, h, w = SHAPES[tag.split("/", 1)[1]]
        want_h, want_w = grid_size(min(10, c), h, w, 2)
        series = blobs[tag]
        assert [s for s, _ in series] == [steps_per_epoch * (e + 1) for e in range(EPOCHS)]
        for _, (width, height, png) in series:
            assert (int(width), int(height)) == (want_w, want_h), tag
            img = tb_helpers.decode_png(png)
            assert img.shape[:2] == (want_h, want_w), tag
            # Grey tiles: R = G = B; every tile is min-max normalised, so it holds 0 and 255.
            assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 0], img[..., 2])
            tile = img[:h, :w, 0]
            assert tile.min() == 0 and tile.max() in (0, 255)  # a constant channel is all 0
            # The padding between the first two tiles is white.
            assert np.all(img[:h, w : w + 2, 0] == 255)


def test_gradcam_panels_and_classes(vision_run):
    blobs = vision_run.blobs("images", RUN)
    tags = {t for t in blobs if t.startswith("gradcam/")}
    assert tags == {f"gradcam/sample_{i}" for i in range(3)}
    steps_per_epoch = SAMPLES // BATCH
    epoch_steps = [steps_per_epoch * (e + 1) for e in range(EPOCHS)]
    for tag in tags:
        series = blobs[tag]
        assert [s for s, _ in series] == epoch_steps
        for _, (width, height, png) in series:
            # original | 2 white columns | heat map | 2 white columns | overlay, each 28 x 28.
            assert (int(width), int(height)) == (3 * 28 + 2 * 2, 28)
            img = tb_helpers.decode_png(png).astype(int)
            assert img.shape == (28, 88, 3)
            assert np.all(img[:, 28:30] == 255) and np.all(img[:, 58:60] == 255)
            original, heat, overlay = img[:, :28], img[:, 30:58], img[:, 60:88]
            assert np.array_equal(original[..., 0], original[..., 1])  # grey input
            # Jet colours: never white; the blend is the mean of its two panels (8-bit rounding).
            assert not np.any(np.all(heat > 250, axis=2))
            assert np.all(np.abs(overlay - (original + heat) / 2) <= 1.5)
    scalars = vision_run.scalars(RUN)
    for i in range(3):
        series = scalars[f"gradcam/sample_{i}/class"]
        assert [s for s, _ in series] == epoch_steps
        assert all(float(v).is_integer() and 0 <= v < 4 for _, v in series)
