"""The example programs (examples/dcgan, hparam_search, word_embeddings, custom_plugin) run at a
small size on the CPU; what they log is read back with TensorBoard's own loaders and checked
against independent computations: the Fashion-MNIST files, the licence text, the parameter
shapes, the final checkpoint, Jensen bounds between logged means.

The binaries are found in $TRAINSCOPE_BUILD_DIR/examples/<name>/<name> (CTest sets it; default
build/). The custom plugin goes through scripts/custom_plugin.sh: install the build into a
prefix, build examples/custom_plugin against it, run it with the installed CLI.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import tb_helpers

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
GPL3 = Path("/usr/share/common-licenses/GPL-3")


def build_dir() -> Path:
    return Path(os.environ.get("TRAINSCOPE_BUILD_DIR") or tb_helpers.REPO_ROOT / "build")


def example(name: str) -> Path:
    exe = build_dir() / "examples" / name / name
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        pytest.fail(f"{exe} not found: build it first (ninja -C {build_dir()} {name})", pytrace=False)
    return exe


def need_fashion_mnist() -> None:
    missing = [f for f in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz") if not (FASHION_MNIST / f).exists()]
    if missing:
        pytest.fail(f"{FASHION_MNIST}/{missing[0]} is missing: apt install dataset-fashion-mnist", pytrace=False)


def run(cmd: list, cwd: Path, timeout: int = 300, env: dict | None = None) -> str:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        pytest.fail(f"{cmd[0]} exited with {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}",
                    pytrace=False)
    return proc.stdout


def gray(png: bytes) -> np.ndarray:
    """A decoded PNG as one gray channel (RGB with equal channels, or L)."""
    px = tb_helpers.decode_png(png)
    if px.ndim == 3:
        assert (px[..., 0] == px[..., 1]).all() and (px[..., 0] == px[..., 2]).all()
        px = px[..., 0]
    return px


def logged_steps(total: int, every: int) -> list[int]:
    """Steps of the window means: every `every` steps, plus the last partial window."""
    steps = list(range(every, total + 1, every))
    return steps + ([total] if total % every else [])


# ----------------------------------------------------------------------------------------
# DCGAN: the Trainer with a user train step (two models, two optimizers), the scalars and
# histograms plugins of examples/dcgan/dcgan.toml and the example's inline callbacks.

DCGAN = dict(epochs=2, limit=128, batch=32, width=8, nz=16, samples=20)
DCGAN_TOML = tb_helpers.REPO_ROOT / "examples" / "dcgan" / "dcgan.toml"


def dcgan_run(tmp: Path, epochs: int) -> str:
    # The shipped configuration, its per-step cadences set to every step (a tiny run).
    text = DCGAN_TOML.read_text().replace("log_every_n_steps = 50", "log_every_n_steps = 1")
    assert text.count("log_every_n_steps = 1") == 2
    (tmp / "dcgan.toml").write_text(text)
    p = DCGAN
    sets = [f'run.log_dir="{tmp}"', 'run.device="cpu"', f"trainer.epochs={epochs}", f"data.train_limit={p['limit']}",
            f"trainer.batch_size={p['batch']}", 'trainer.resume="auto"']
    cmd = [example("dcgan"), "--config", tmp / "dcgan.toml", "--path", build_dir() / "plugins", "--width", p["width"],
           "--nz", p["nz"], "--samples", p["samples"]]
    for s in sets:
        cmd += ["--set", s]
    return run(cmd, cwd=tmp, env={"OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def dcgan(tmp_path_factory):
    need_fashion_mnist()
    tmp = tmp_path_factory.mktemp("dcgan")
    out = dcgan_run(tmp, DCGAN["epochs"])
    return tmp / "dcgan", out, tb_helpers.load_logdir(tmp / "dcgan")


def test_dcgan_logs_both_losses_and_discriminator_outputs(dcgan):
    _, out, loaded = dcgan
    assert tb_helpers.log_problems(loaded.log) == []
    per_epoch = DCGAN["limit"] // DCGAN["batch"]
    total = per_epoch * DCGAN["epochs"]
    scalars = loaded.scalars()
    step_tags = ["train/discriminator_step", "train/generator_step", "D/x", "D/G_z", "D/G_z_after"]
    for tag in step_tags:
        assert [s for s, _ in scalars.get(tag, [])] == list(range(1, total + 1)), tag
    v = {tag: np.array([x for _, x in scalars[tag]], dtype=np.float64) for tag in step_tags}
    for tag in ("D/x", "D/G_z", "D/G_z_after"):
        assert ((v[tag] > 0) & (v[tag] < 1)).all(), (tag, v[tag])
    # Each loss is a batch mean of -log p; -log is convex, so (Jensen) mean(-log p) >= -log(mean p):
    # each step's loss is bounded below by what that step's D outputs say.
    tol = 1e-5
    assert (v["train/generator_step"] >= -np.log(v["D/G_z_after"]) - tol).all()
    assert (v["train/discriminator_step"] >= -np.log(v["D/x"]) - np.log1p(-v["D/G_z"]) - tol).all()
    # The epoch curves (the trainer's train/<loss> metrics, logged by the scalars plugin) are the
    # means of that epoch's step losses.
    for name in ("discriminator", "generator"):
        epochs = scalars[f"train/{name}"]
        assert [s for s, _ in epochs] == [per_epoch * (e + 1) for e in range(DCGAN["epochs"])]
        for e, (_, mean) in enumerate(epochs):
            assert mean == pytest.approx(v[f"train/{name}_step"][e * per_epoch:(e + 1) * per_epoch].mean(), rel=1e-5)
    # train/loss: the first loss reported (the discriminator's).
    assert [x for _, x in scalars["train/loss"]] == pytest.approx([x for _, x in scalars["train/discriminator"]], rel=1e-6)
    assert "logs: " in out and "tensorboard --logdir" in out
    assert "was disabled" not in out  # no plugin or callback failed


def test_dcgan_sample_grids(dcgan):
    _, _, loaded = dcgan
    blobs = loaded.blobs("images")
    n, cols = DCGAN["samples"], 8
    rows = -(-n // cols)
    per_epoch = DCGAN["limit"] // DCGAN["batch"]
    grids = blobs["samples/fixed_noise"]
    assert [s for s, _ in grids] == [per_epoch * (e + 1) for e in range(DCGAN["epochs"])]
    for _, (w, h, png) in grids:
        assert (int(w), int(h)) == (cols * 28, rows * 28)
        px = gray(png)
        assert px.shape == (rows * 28, cols * 28)
        # Cells past the last sample stay black (the grid is zero-filled).
        assert (px[(rows - 1) * 28:, (n - (rows - 1) * cols) * 28:] == 0).all()
        assert px[:28, :28].std() > 0  # a generated image, not a blank
    assert not np.array_equal(gray(grids[0][1][2]), gray(grids[1][1][2]))  # the generator trained
    # The step-0 grid of real images (the first batch, first `samples` of its 32): each cell is
    # one of the training images used.
    [(step, (w, h, png))] = blobs["samples/real"]
    assert step == 0 and (int(w), int(h)) == (cols * 28, rows * 28)
    with gzip.open(FASHION_MNIST / "train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[: DCGAN["limit"]].astype(np.int16)
    px = gray(png).astype(np.int16)
    found = set()
    for i in range(n):
        r, c = divmod(i, cols)
        cell = px[r * 28:(r + 1) * 28, c * 28:(c + 1) * 28]
        diff = np.abs(images - cell).reshape(len(images), -1).max(axis=1)
        assert diff.min() <= 1, f"cell {i} is no training image (closest differs by {diff.min()})"
        found.add(int(diff.argmin()))
    assert len(found) == n  # n different images (one shuffled batch)


def test_dcgan_images_plugin_shows_training_images(dcgan):
    # The images plugin of dcgan.toml on the user step: without validation data it shows the
    # first training batch it sees (16 images, 8 per row, 2 px padding), de-normalised with the
    # config's mean/std 0.5, at every epoch's end.
    _, _, loaded = dcgan
    per_epoch = DCGAN["limit"] // DCGAN["batch"]
    grids = loaded.blobs("images")["images/inputs"]
    assert [s for s, _ in grids] == [per_epoch * (e + 1) for e in range(DCGAN["epochs"])]
    with gzip.open(FASHION_MNIST / "train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[: DCGAN["limit"]].astype(np.int16)
    for _, (w, h, png) in grids:
        assert (int(w), int(h)) == (8 * 30 + 2, 2 * 30 + 2)
        px = gray(png).astype(np.int16)
        found = set()
        for i in range(16):
            r, c = divmod(i, 8)
            cell = px[2 + r * 30:2 + r * 30 + 28, 2 + c * 30:2 + c * 30 + 28]
            diff = np.abs(images - cell).reshape(len(images), -1).max(axis=1)
            assert diff.min() <= 1, f"cell {i} is no training image (closest differs by {diff.min()})"
            found.add(int(diff.argmin()))
        assert len(found) == 16


def dcgan_numel() -> dict[str, int]:
    nz, w = DCGAN["nz"], DCGAN["width"]
    return {
        "generator/deconv1.weight": nz * 2 * w * 7 * 7, "generator/bn1.weight": 2 * w, "generator/bn1.bias": 2 * w,
        "generator/deconv2.weight": 2 * w * w * 4 * 4, "generator/bn2.weight": w, "generator/bn2.bias": w,
        "generator/deconv3.weight": w * 1 * 4 * 4,
        "discriminator/conv1.weight": w * 1 * 4 * 4, "discriminator/conv2.weight": 2 * w * w * 4 * 4,
        "discriminator/bn2.weight": 2 * w, "discriminator/bn2.bias": 2 * w, "discriminator/conv3.weight": 2 * w * 7 * 7,
    }


def test_dcgan_weight_histograms_of_both_models(dcgan):
    _, _, loaded = dcgan
    numel = {"weights/" + k: n for k, n in dcgan_numel().items()}
    hist = loaded.tensors("histograms")
    assert set(hist) == set(numel)  # the histograms plugin walked both named models
    per_epoch = DCGAN["limit"] // DCGAN["batch"]
    for tag, n in numel.items():
        assert [s for s, _ in hist[tag]] == [per_epoch * (e + 1) for e in range(DCGAN["epochs"])], tag
        for _, t in hist[tag]:
            assert t.shape[1] == 3 and t[:, 2].sum() == n, (tag, t[:, 2].sum(), n)


def test_dcgan_resumes_both_models_from_its_checkpoint(dcgan, tmp_path):
    """One more epoch into a copy of the run resumes from its checkpoint (both networks, both
    optimizers, the counters and the random generators) and logs exactly what a run of three
    epochs in one go logs."""
    import shutil
    run_dir, _, _ = dcgan
    (tmp_path / "resumed").mkdir()
    (tmp_path / "straight").mkdir()
    shutil.copytree(run_dir, tmp_path / "resumed" / "dcgan")
    epochs = DCGAN["epochs"] + 1
    out = dcgan_run(tmp_path / "resumed", epochs)
    dcgan_run(tmp_path / "straight", epochs)
    per_epoch = DCGAN["limit"] // DCGAN["batch"]
    total = per_epoch * epochs
    assert f"resumed from {tmp_path / 'resumed' / 'dcgan' / 'checkpoints' / 'epoch_0002.pt'}" in out
    resumed = tb_helpers.load_logdir(tmp_path / "resumed" / "dcgan")
    straight = tb_helpers.load_logdir(tmp_path / "straight" / "dcgan")
    assert tb_helpers.log_problems(resumed.log) == []
    got, want = resumed.scalars(), straight.scalars()
    for tag in ("train/generator_step", "train/discriminator_step", "D/x", "train/generator"):
        assert [s for s, _ in got[tag]] == [s for s, _ in want[tag]], tag
        assert [x for _, x in got[tag]] == [x for _, x in want[tag]], tag  # bit for bit (CPU, one thread)
    assert [s for s, _ in got["train/generator_step"]] == list(range(1, total + 1))
    grids = resumed.blobs("images")["samples/fixed_noise"]
    assert [s for s, _ in grids] == [per_epoch * (e + 1) for e in range(epochs)]
    assert grids[-1][1][2] == straight.blobs("images")["samples/fixed_noise"][-1][1][2]
    assert (tmp_path / "resumed" / "dcgan" / "checkpoints" / "epoch_0003.pt").is_file()


# ----------------------------------------------------------------------------------------
# Grid search with the hparams plugin

GRID = dict(lr=["0.001", "0.01"], batch_size=["32", "64"], optimizer=["adam", "sgd"])


def test_hparam_search_sessions_cover_the_grid(tmp_path):
    need_fashion_mnist()
    logdir = tmp_path / "search"
    out = run([example("hparam_search"), "--lr", ",".join(GRID["lr"]), "--batch-size", ",".join(GRID["batch_size"]),
               "--optimizer", ",".join(GRID["optimizer"]), "--set", "trainer.epochs=1", "--set", "data.train_limit=192",
               "--set", "data.val_limit=64", "--set", 'run.device="cpu"', "--set", f'run.log_dir="{logdir}"'], cwd=tmp_path)
    expected = {}
    for lr in GRID["lr"]:
        for bs in GRID["batch_size"]:
            for opt in GRID["optimizer"]:
                expected[f"lr{lr}_bs{bs}_{opt}"] = {"lr": float(lr), "batch_size": float(bs), "optimizer": opt}

    from google.protobuf import json_format
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import api_pb2, backend_context, get_experiment, list_session_groups

    loaded = tb_helpers.load_logdir(logdir)
    assert tb_helpers.log_problems(loaded.log) == []
    assert set(expected) <= loaded.runs()
    tb_context = base_plugin.TBContext(data_provider=loaded.provider, multiplexer=loaded.multiplexer, logdir=str(logdir))
    context = backend_context.Context(tb_context)
    exp = get_experiment.Handler(loaded.ctx, context, tb_helpers.EXPERIMENT, api_pb2.GetExperimentRequest()).run()
    assert {"lr", "batch_size", "optimizer"} <= {h.name for h in exp.hparam_infos}
    metric_tags = {m.name.tag for m in exp.metric_infos}
    assert metric_tags
    request = api_pb2.ListSessionGroupsRequest(allowed_statuses=[0, 1, 2, 3], start_index=0, slice_size=1000)
    response = list_session_groups.Handler(loaded.ctx, context, tb_helpers.EXPERIMENT, request).run()
    sessions = {}
    for group in response.session_groups:
        hp = {k: json_format.MessageToDict(v) for k, v in group.hparams.items()}
        for s in group.sessions:
            sessions[s.name] = (api_pb2.Status.Name(s.status), hp, {m.name.tag: m.value for m in s.metric_values})
    assert set(sessions) == set(expected)
    scalars = loaded.provider.read_scalars(loaded.ctx, experiment_id=tb_helpers.EXPERIMENT, plugin_name="scalars",
                                           downsample=tb_helpers.ALL)
    for name, want in expected.items():
        status, hp, metrics = sessions[name]
        assert status == "STATUS_SUCCESS", name
        assert math.isclose(hp["lr"], want["lr"], rel_tol=1e-12) and hp["batch_size"] == want["batch_size"], (name, hp)
        assert hp["optimizer"] == want["optimizer"], (name, hp)
        assert set(metrics) == metric_tags and all(math.isfinite(v) for v in metrics.values()), (name, metrics)
        # The session's metrics are the run's own scalars: TensorBoard shows their last value.
        for tag, value in metrics.items():
            assert scalars[name][tag][-1].value == pytest.approx(value), (name, tag)
        # The scalars plugin's curves: one epoch of ceil(192 / batch size) steps.
        steps = -(-192 // int(want["batch_size"]))
        assert [d.step for d in scalars[name]["train/loss"]] == [steps], name
        # The summary table (from the trainer's FitResult) agrees with the logged curves.
        row = re.search(rf"^{re.escape(name)} +([0-9.]+) +([0-9.]+) +([0-9.]+)$", out, re.M)
        assert row, f"{name} not in the summary table"
        for col, tag in zip(row.groups(), ("train/loss", "val/loss", "val/accuracy")):
            assert float(col) == pytest.approx(scalars[name][tag][-1].value, abs=6e-5), (name, tag)
    assert "tensorboard --logdir" in out


# ----------------------------------------------------------------------------------------
# Word embeddings to the projector


def vocabulary(path: Path, min_count: int) -> list[tuple[str, int]]:
    """Lowercase ASCII-letter words with count >= min_count, by count then alphabetically."""
    from collections import Counter

    counts = Counter(w.decode() for w in re.findall(rb"[a-z]+", path.read_bytes().lower()))
    return sorted(((w, c) for w, c in counts.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))


def test_word_embeddings_reach_the_projector(tmp_path):
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.projector import projector_plugin
    from werkzeug import test as wtest

    if not GPL3.exists():
        pytest.fail(f"{GPL3} is missing (package base-files)", pytrace=False)
    dim, epochs, k = 16, 3, 4
    logdir = tmp_path / "run"
    out = run([example("word_embeddings"), "--text", GPL3, "--device", "cpu", "--log-dir", logdir, "--epochs", epochs,
               "--dim", dim, "--min-count", 5, "--log-every", 10, "--neighbours", k,
               "--words", "software,license,source,zzzz"], cwd=tmp_path)
    vocab = vocabulary(GPL3, 5)

    loaded = tb_helpers.load_logdir(logdir)
    assert tb_helpers.log_problems(loaded.log) == []
    plugin = projector_plugin.ProjectorPlugin(base_plugin.TBContext(logdir=str(logdir), data_provider=loaded.provider))
    apps = plugin.get_plugin_apps()

    def get(route, **args):
        from urllib.parse import urlencode

        resp = wtest.Client(apps[route]).get(route + "?" + urlencode(args))
        assert resp.status_code == 200, (route, args, resp.get_data())
        return resp.get_data()

    info = json.loads(get("/info", run="."))
    [e] = info["embeddings"]
    name = e["tensorName"]
    assert name.startswith("word2vec:")
    assert [int(d) for d in e["tensorShape"]] == [len(vocab), dim]
    rows = get("/metadata", run=".", name=name).decode().split("\n")
    assert rows[-1] == "" and rows[0] == "word\tcount"
    assert [tuple(r.split("\t")) for r in rows[1:-1]] == [(w, str(c)) for w, c in vocab]
    mat = np.frombuffer(get("/tensor", run=".", name=name), dtype=np.float32).reshape(len(vocab), dim)
    assert np.isfinite(mat).all() and mat.std() > 0

    # The printed neighbours agree with the cosine similarities of the served matrix.
    unit = mat.astype(np.float64) / np.linalg.norm(mat.astype(np.float64), axis=1, keepdims=True)
    index = {w: i for i, (w, _) in enumerate(vocab)}
    assert "  zzzz: not in the vocabulary" in out
    for word in ("software", "license", "source"):
        m = re.search(rf"^  {word}: (.*)$", out, re.M)
        assert m, f"no neighbours printed for {word}"
        printed = [(p.rsplit(" ", 1)[0], float(p.rsplit(" ", 1)[1])) for p in m.group(1).split(", ")]
        assert len(printed) == k
        sims = unit @ unit[index[word]]
        sims[index[word]] = -np.inf
        for w, s in printed:
            assert abs(sims[index[w]] - s) <= 6e-5, (word, w, s, sims[index[w]])
        # No word left out is closer than the last one listed (4-decimal printing).
        others = np.delete(sims, [index[w] for w, _ in printed])
        assert others.max() <= printed[-1][1] + 6e-5, (word, printed, others.max())

    scalars = loaded.scalars()
    epoch_loss = [v for _, v in scalars["loss/epoch"]]
    assert len(epoch_loss) == epochs and all(math.isfinite(v) for v in epoch_loss)
    assert epoch_loss[-1] < epoch_loss[0]  # it learns
    total = scalars["loss/epoch"][-1][0]
    assert int(name.split(":")[1]) == total
    assert [s for s, _ in scalars["loss/train"]] == logged_steps(total, 10)
    assert "neighbours/text_summary" in loaded.tensor_tags("text")["."]


# ----------------------------------------------------------------------------------------
# The out-of-tree plugin, built against the installed package


def test_custom_plugin_builds_out_of_tree_and_logs(tmp_path):
    need_fashion_mnist()
    script = tb_helpers.REPO_ROOT / "scripts" / "custom_plugin.sh"
    out = run(["bash", script, tmp_path], cwd=tb_helpers.REPO_ROOT, timeout=900,
              env={"TRAINSCOPE_BUILD_DIR": str(build_dir()), "DEVICE": "cpu"})
    assert "custom_plugin.sh: OK" in out
    run_dir = tmp_path / "runs" / "custom_plugin"
    loaded = tb_helpers.load_logdir(run_dir)
    assert tb_helpers.log_problems(loaded.log) == []
    scalars = loaded.scalars()

    # The values at the last step are the norms of the final weights, which the trainer's
    # checkpoint after the (only) epoch holds: 512 samples / batch 64 = 8 steps, logged at 4, 8.
    import warnings

    import torch

    with warnings.catch_warnings():  # torch.jit.load is deprecated, yet it reads C++ archives
        warnings.simplefilter("ignore", DeprecationWarning)
        ckpt = torch.jit.load(str(run_dir / "checkpoints" / "epoch_0001.pt"), map_location="cpu")
    params = {k: v.detach().double() for k, v in ckpt.model.named_parameters()}
    assert params
    assert {t for t in scalars if t.startswith("weight_norm/")} == {"weight_norm/total"} | {f"weight_norm/{k}" for k in params}
    for k, p in params.items():
        steps = scalars[f"weight_norm/{k}"]
        assert [s for s, _ in steps] == [4, 8], k
        assert steps[-1][1] == pytest.approx(float(p.norm()), rel=1e-5), k
    total = math.sqrt(sum(float(p.pow(2).sum()) for p in params.values()))
    assert [s for s, _ in scalars["weight_norm/total"]] == [4, 8]
    assert scalars["weight_norm/total"][-1][1] == pytest.approx(total, rel=1e-5)
    # The first logged values differ: the plugin reads the weights when it runs, not at the end.
    assert scalars["weight_norm/total"][0][1] != scalars["weight_norm/total"][-1][1]


# ----------------------------------------------------------------------------------------
# fashion_mnist_cnn: the main job's program and TOML, every plugin at its defaults, small size

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


def test_fashion_mnist_cnn_with_every_plugin_loads_in_tensorboard(tmp_path):
    need_fashion_mnist()
    toml = tb_helpers.REPO_ROOT / "examples" / "fashion_mnist_cnn" / "fashion_mnist_cnn.toml"
    logs = tmp_path / "runs"
    # 2 epochs of 3200 samples = 100 steps: the defaults' step cadences (activations every
    # 100 steps, memory every 50, the profiler's first cycle) all fire.
    out = run([example("fashion_mnist_cnn"), toml, "--set", "trainer.epochs=2", "--set", "data.train_limit=3200",
               "--set", "data.val_limit=256", "--set", "run.device=cpu", "--set", f"run.log_dir={logs}"], tmp_path)
    assert "plugins: nan_guard scalars histograms hparams memory profiler images text graph activations" in out, out
    assert "was disabled" not in out, out
    assert re.search(r"done: 2 epochs, 100 steps", out), out
    assert f"logs: {logs / 'fashion_mnist_cnn'}" in out, out

    loaded = tb_helpers.load_logdir(logs)
    assert not tb_helpers.log_problems(loaded.log), tb_helpers.log_problems(loaded.log)
    run_name = "fashion_mnist_cnn"
    assert run_name in loaded.runs()
    scalars = loaded.scalar_tags("scalars")[run_name]
    for tag in ("train/loss_step", "train/loss", "train/accuracy", "val/accuracy", "val/top5", "lr/group0",
                "perf/samples_per_sec", "memory/cpu/rss_mb", "time/forward_ms", "activations/conv1/mean",
                "activations/features/zero_fraction", "gradcam/sample_0/class", "early_stopping/best",
                "checkpoint/best", "nan_guard/nonfinite_steps", "hparams/best_val_accuracy"):
        assert tag in scalars, (tag, sorted(scalars))
    histograms = loaded.tensor_tags("histograms")[run_name]
    for tag in ("weights/conv1.weight", "grads/fc3.bias", "activations/conv2"):
        assert tag in histograms, (tag, sorted(histograms))
    images = loaded.blob_tags("images")[run_name]
    for tag in ("images/inputs", "feature_maps/conv1", "feature_maps/conv2", "gradcam/sample_0", "confusion_matrix"):
        assert tag in images, (tag, sorted(images))
    texts = loaded.tensor_tags("text")[run_name]
    for tag in ("config/text_summary", "model/summary/text_summary", "confusion_matrix/counts/text_summary"):
        assert tag in texts, (tag, sorted(texts))
    # One PR curve per Fashion-MNIST class, named after it.
    assert {f"pr_curves/{c}" for c in FASHION_CLASSES} <= loaded.tensor_tags("pr_curves")[run_name]
    assert "_hparams_/session_start_info" in loaded.tensor_tags("hparams")[run_name]
    assert "custom_scalars__config__" in loaded.tensor_tags("custom_scalars")[run_name]
    graph = loaded.multiplexer.Graph(run_name)
    assert any("conv1" in n.name for n in graph.node), [n.name for n in graph.node][:20]
    run_dir = logs / run_name
    assert (run_dir / "projector_config.pbtxt").is_file()
    traces = list((run_dir / "plugins" / "profile").glob("*.pt.trace.json"))
    assert len(traces) == 1 and "ProfilerStep#" in traces[0].read_text()
    assert sorted(p.name for p in (run_dir / "checkpoints" / "best").glob("*.pt"))[-1] == "last.pt"


# ----------------------------------------------------------------------------------------
# torchscript_resnet: torchvision's ResNet-18 scripted in Python, trained by `trainscope run`


def test_torchscript_resnet18_with_every_plugin_loads_in_tensorboard(tmp_path):
    need_fashion_mnist()
    folder = tb_helpers.REPO_ROOT / "examples" / "torchscript_resnet"
    pt = tmp_path / "resnet18.pt"
    run([tb_helpers.REPO_ROOT / ".venv" / "bin" / "python", folder / "make_resnet18.py", pt], tmp_path)
    logs = tmp_path / "runs"
    cli = build_dir() / "core" / "trainscope"
    # 640 samples = 10 steps; the step cadences shortened so that each fires.
    out = run([cli, "run", folder / "resnet18_fashion_mnist.toml", "--set", f'model.torchscript="{pt}"',
               "--set", "data.train_limit=640", "--set", "data.val_limit=128", "--set", "run.device=cpu",
               "--set", f'run.log_dir="{logs}"', "--set", "plugin.activations.log_every_n_steps=5",
               "--set", "plugin.memory.log_every_n_steps=5"], tmp_path)
    assert f"model:   TorchScript {pt} (11172810 parameters)" in out, out
    assert "was disabled" not in out, out
    assert re.search(r"done: 10 steps, 1 epochs", out), out

    loaded = tb_helpers.load_logdir(logs)
    assert not tb_helpers.log_problems(loaded.log), tb_helpers.log_problems(loaded.log)
    run_name = "torchscript_resnet18"
    expectations = tb_helpers.parse_expected_tags(folder / "expected_tags.txt")
    unmet = tb_helpers.unmet_expectations(loaded, run_name, logs / run_name, expectations)
    assert not unmet, unmet
    # The TorchScript graph, with module paths as scopes.
    names = [n.name for n in loaded.multiplexer.Graph(run_name).node]
    assert any("layer4" in n for n in names), names[:20]
