"""A grid of `trainscope run`s with the hparams plugin, compared in TensorBoard's HParams dashboard.

Three runs of one configuration into one log directory, each with its own --set trainer.lr
and run.name, read back through TensorBoard 2.21's own hparams plugin backend (the handlers the
dashboard calls, see test_hparams.py). The experiment must list every session with its
hyperparameters, its status and its metric values; the metric values are checked against the
validation curves the scalars plugin logged in the same run (val/loss, val/accuracy: the best
and the last of each) and against the CLI's own summary line.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import tb_helpers
import test_hparams  # HParamsView: the dashboard's get_experiment / list_session_groups

CONFIG = """
[run]
log_dir = "{log_dir}"
seed = 5
device = "cpu"

[trainer]
epochs = 2
batch_size = 16
optimizer = "sgd"
lr = 0.05
checkpoint_every_n_epochs = 0

[data]
dataset = "synthetic"
synthetic_samples = 64
synthetic_classes = 4

[model]
name = "mlp"
hidden = 32
layers = 1

[hparams]
dataset = "synthetic"
width = 32

[[plugin]]
name = "hparams"
on_error = "abort"

[[plugin]]
name = "scalars"
on_error = "abort"
log_every_n_steps = 4
"""

LRS = [0.1, 0.03, 0.01]


def cli() -> Path:
    build = Path(os.environ.get("TRAINSCOPE_BUILD_DIR", tb_helpers.REPO_ROOT / "build"))
    exe = build / "core" / "trainscope"
    if not exe.is_file():
        pytest.fail(f"{exe} not found: build the project first (ninja -C build)", pytrace=False)
    return exe


def f32(x: float) -> float:
    return float(np.float32(x))


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("hparams_grid")
    log_dir = root / "runs"
    cfg = root / "grid.toml"
    cfg.write_text(CONFIG.format(log_dir=log_dir))
    outputs = {}
    for lr in LRS:
        name = f"lr_{lr}"
        proc = subprocess.run(
            [str(cli()), "run", str(cfg), "--set", f"trainer.lr={lr}", "--set", f"run.name={name}"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, f"trainscope run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        assert "was disabled" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        outputs[name] = proc.stdout
    return log_dir, outputs


def test_every_session_is_listed_with_its_hparams_metrics_and_status(grid):
    log_dir, outputs = grid
    view = test_hparams.HParamsView(log_dir)
    assert tb_helpers.log_problems(view.loaded.log) == []
    assert view.loaded.runs() == set(outputs)

    from tensorboard.plugins.hparams import api_pb2

    exp = view.experiment()
    types = {h.name: api_pb2.DataType.Name(h.type) for h in exp.hparam_infos}
    assert types == {
        "lr": "DATA_TYPE_FLOAT64",
        "batch_size": "DATA_TYPE_FLOAT64",
        "epochs": "DATA_TYPE_FLOAT64",
        "optimizer": "DATA_TYPE_STRING",
        "dataset": "DATA_TYPE_STRING",
        "width": "DATA_TYPE_FLOAT64",
    }
    metric_tags = sorted(m.name.tag for m in exp.metric_infos)
    assert metric_tags == sorted(
        f"hparams/{kind}_{m}" for kind in ("best", "final") for m in ("val_loss", "val_accuracy")
    )

    sessions = view.sessions()
    assert set(sessions) == set(outputs)
    scalars = view.loaded.scalars  # run -> {tag: [(step, value)]}
    for lr in LRS:
        name = f"lr_{lr}"
        status, hparams, metrics, session = sessions[name]
        assert status == "STATUS_SUCCESS", name
        assert hparams == {
            "lr": lr,
            "batch_size": 16.0,
            "epochs": 2.0,
            "optimizer": "sgd",
            "dataset": "synthetic",
            "width": 32.0,
        }, name
        assert session.start_time_secs > 0 and session.end_time_secs >= session.start_time_secs, name

        # The scalars plugin's validation curves of the same run: one value per epoch.
        curves = scalars(name)
        val_loss = [v for _, v in curves["val/loss"]]
        val_acc = [v for _, v in curves["val/accuracy"]]
        assert len(val_loss) == len(val_acc) == 2, name
        assert metrics == {
            "hparams/best_val_loss": min(val_loss),
            "hparams/final_val_loss": val_loss[-1],
            "hparams/best_val_accuracy": max(val_acc),
            "hparams/final_val_accuracy": val_acc[-1],
        }, name

        # The CLI's summary line (4 decimals) agrees with the final values.
        done = next(line for line in outputs[name].splitlines() if line.startswith("done:"))
        printed = {k: float(v) for k, v in re.findall(r"(val/\w+) ([0-9.]+)", done)}
        assert printed["val/loss"] == pytest.approx(metrics["hparams/final_val_loss"], abs=6e-5), done
        assert printed["val/accuracy"] == pytest.approx(metrics["hparams/final_val_accuracy"], abs=6e-5), done
