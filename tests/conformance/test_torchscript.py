"""TorchScript models from Python: activations tapped by module path equal PyTorch's own.

torchvision's ResNet-18 (examples/torchscript_resnet/make_resnet18.py, random init) is scripted
here and trained for one step by `trainscope run` with the activations plugin on three module
paths; the statistics TensorBoard reads back must equal those computed in Python with
register_forward_hook on the same module and input. The batch is the whole training set, so
the loader's shuffle does not change any statistic (BatchNorm in training mode included).
"""

import importlib.util
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import tb_helpers as tbh
from test_eval_plugins import cli

LAYERS = ["layer1.0.bn1", "layer2.0.downsample.0", "layer4.1.conv2"]  # bn1 is then ReLU'd in place
SAMPLES = 16


def make_resnet18():
    path = tbh.REPO_ROOT / "examples" / "torchscript_resnet" / "make_resnet18.py"
    spec = importlib.util.spec_from_file_location("make_resnet18", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.resnet18_28x28


def write_idx(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    with open(folder / f"{prefix}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, *images.shape) + images.astype(np.uint8).tobytes())
    with open(folder / f"{prefix}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, len(labels)) + labels.astype(np.uint8).tobytes())


def test_activation_stats_by_module_path_equal_pytorch_forward_hooks(tmp_path):
    torch.manual_seed(0)
    model = make_resnet18()(10)
    torch.jit.script(model).save(str(tmp_path / "resnet18.pt"))

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(SAMPLES, 28, 28))
    labels = rng.integers(0, 10, size=SAMPLES)
    data = tmp_path / "idx"
    data.mkdir()
    write_idx(data, "train", images, labels)
    write_idx(data, "t10k", images[:4], labels[:4])

    cfg = tmp_path / "run.toml"
    cfg.write_text(f"""
[run]
name = "ts"
log_dir = "{tmp_path / 'runs'}"
device = "cpu"
[trainer]
epochs = 1
batch_size = {SAMPLES}
checkpoint_every_n_epochs = 0
[data]
dataset = "mnist_idx"
path = "{data}"
normalize_mean = [0.0]
normalize_std = [1.0]
[model]
torchscript = "resnet18.pt"   # relative to this file
[[plugin]]
name = "activations"
log_every_n_steps = 1
include = {LAYERS!r}
on_error = "abort"
""".replace("'", '"'))
    proc = subprocess.run([str(cli()), "run", str(cfg)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"trainscope run failed:\n{proc.stdout}\n{proc.stderr}"

    # PyTorch: forward hooks on the same (eager) module, same input, training mode.
    got_hooks = {}
    modules = dict(model.named_modules())
    for name in LAYERS:
        def hook(_m, _inp, out, name=name):
            o = out.detach().double()
            got_hooks[name] = (o.mean().item(), o.std().item(), (o == 0).double().mean().item())
        modules[name].register_forward_hook(hook)
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(images).float().div(255.0).unsqueeze(1))

    loaded = tbh.load_logdir(tmp_path / "runs" / "ts")
    scalars = loaded.scalars()
    for name in LAYERS:
        mean, std, zero = got_hooks[name]
        for stat, want in (("mean", mean), ("std", std), ("zero_fraction", zero)):
            series = scalars.get(f"activations/{name}/{stat}")
            assert series, f"no activations/{name}/{stat} in {sorted(scalars)}"
            assert series[0][1] == pytest.approx(want, rel=1e-4, abs=1e-5), (name, stat)
    # The in-place ReLU after layer1.0.bn1 did not leak into its statistics.
    assert got_hooks["layer1.0.bn1"][2] < 0.1
