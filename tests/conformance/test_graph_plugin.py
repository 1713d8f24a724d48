"""The graph plugin through the real CLI: TensorBoard's graphs dashboard finds one graph whose
nodes are scoped by the model's layers, traced on one sample of the first training batch."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

import tb_helpers

CONFIG = """
[run]
name = "graph"
log_dir = "{log_dir}"
seed = 4
device = "cpu"

[trainer]
epochs = 1
batch_size = 16
checkpoint_every_n_epochs = 0

[data]
dataset = "synthetic"
synthetic_samples = 32
synthetic_classes = 4

[model]
name = "simple_cnn"

[[plugin]]
name = "graph"
on_error = "abort"
"""


def cli() -> Path:
    build = Path(os.environ.get("TRAINSCOPE_BUILD_DIR", tb_helpers.REPO_ROOT / "build"))
    exe = build / "core" / "trainscope"
    if not exe.is_file():
        pytest.fail(f"{exe} not found: build the project first (ninja -C build trainscope graph)", pytrace=False)
    return exe


def test_graph_plugin_writes_a_scoped_graph(tmp_path):
    cfg = tmp_path / "graph.toml"
    cfg.write_text(CONFIG.format(log_dir=tmp_path / "runs"))
    proc = subprocess.run([str(cli()), "run", str(cfg)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"trainscope run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    assert "structural graph" not in proc.stderr, proc.stderr  # the trace itself succeeded

    loaded = tb_helpers.load_logdir(tmp_path / "runs")
    assert not tb_helpers.log_problems(loaded.log), tb_helpers.log_problems(loaded.log)
    graph = loaded.multiplexer.Graph("graph")
    layer_ops = [n for n in graph.node if n.op in ("aten::_convolution", "aten::linear")]
    assert len({n.name.split("/", 1)[0] for n in layer_ops}) == 1, [n.name for n in layer_ops]  # one root
    scopes = Counter(n.name.split("/")[1] for n in layer_ops)  # the layer under the model's root
    assert scopes == Counter(
        ["Conv2d[conv1]", "Conv2d[conv2]", "Linear[fc1]", "Linear[fc2]", "Linear[fc3]"]
    ), sorted(n.name for n in graph.node)
    # The example input: one sample of the batch (samples = 1), shaped as the data.
    inputs = [n for n in graph.node if n.op == "IO Node" and n.name.startswith("input/")]
    assert len(inputs) == 1, [n.name for n in inputs]
    dims = [[d.size for d in s.dim] for s in inputs[0].attr["_output_shapes"].list.shape]
    assert dims == [[1, 1, 28, 28]], dims
