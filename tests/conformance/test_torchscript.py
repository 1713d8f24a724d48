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


def tools_dir() -> Path:
    import os

    tools = os.environ.get("TRAINSCOPE_TOOLS_DIR")
    return Path(tools) if tools else Path(cli()).parent.parent / "tests"


@pytest.mark.parametrize("layer", ["layer3", "layer4"])
def test_gradcam_by_module_path_equals_pytorch_hooks(tmp_path, layer):
    """Gradients by path: the gradcam plugin's CAM on the TorchScript module equals Grad-CAM
    computed in PyTorch (forward hook + tensor hook) on the same weights and inputs."""
    tool = tools_dir() / "torchscript_gradcam"
    if not tool.is_file():
        pytest.fail(f"{tool} not found: ninja -C build torchscript_gradcam", pytrace=False)
    torch.manual_seed(2)
    model = make_resnet18()(4)
    with torch.no_grad():  # non-trivial BatchNorm statistics for eval mode
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    model.eval()
    torch.jit.script(model).save(str(tmp_path / "m.pt"))
    x = torch.randn(6, 1, 28, 28)
    x.numpy().astype(np.float32).tofile(tmp_path / "x.f32")
    proc = subprocess.run([str(tool), str(tmp_path / "m.pt"), str(tmp_path / "x.f32"), "6", "1", "28", "28", layer,
                           str(tmp_path / "cam.f32")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    raw = np.fromfile(tmp_path / "cam.f32", dtype=np.float32)
    cam_ts, classes_ts = raw[: 6 * 28 * 28].reshape(6, 28, 28), raw[6 * 28 * 28 :].astype(np.int64)

    # PyTorch: the textbook Grad-CAM with hooks on the eager module.
    saved = {}

    def hook(_m, _inp, out):
        saved["a"] = out
        out.register_hook(lambda g: saved.__setitem__("g", g))

    dict(model.named_modules())[layer].register_forward_hook(hook)
    logits = model(x)
    classes = logits.argmax(1)
    logits.gather(1, classes[:, None]).sum().backward()
    a, g = saved["a"].detach(), saved["g"]
    cam = torch.relu((g.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True))
    cam = torch.nn.functional.interpolate(cam, size=(28, 28), mode="bilinear", align_corners=False).squeeze(1).relu()
    lo, hi = cam.amin((1, 2), keepdim=True), cam.amax((1, 2), keepdim=True)
    cam = torch.where(hi > lo, (cam - lo) / (hi - lo).clamp_min(1e-12), torch.zeros_like(cam))

    np.testing.assert_array_equal(classes_ts, classes.numpy())
    assert cam.std() > 0.05, "a flat map would compare trivially"
    np.testing.assert_allclose(cam_ts, cam.numpy(), atol=1e-4)


def test_refusals_from_the_cli_name_the_config_location(tmp_path):
    """A missing or malformed .pt and an unknown layer path stop `trainscope run` before training,
    at the TOML line and column that named them."""
    torch.manual_seed(0)
    torch.jit.trace(make_resnet18()(10).eval(), torch.zeros(1, 1, 28, 28)).save(str(tmp_path / "traced.pt"))
    (tmp_path / "garbage.pt").write_bytes(b"not a zip archive")

    def refused(torchscript: str, layer: str) -> str:
        cfg = tmp_path / "run.toml"
        cfg.write_text(f"""[run]
log_dir = "{tmp_path / 'runs'}"
device = "cpu"
[data]
dataset = "synthetic"
synthetic_samples = 64
[model]
torchscript = "{torchscript}"
[[plugin]]
name = "gradcam"
layer = "{layer}"
""")
        proc = subprocess.run([str(cli()), "run", str(cfg)], capture_output=True, text=True, timeout=300)
        assert proc.returncode != 0, proc.stdout
        assert "epoch 1/" not in proc.stdout, "refused before training"
        return proc.stderr

    err = refused("missing.pt", "layer4")
    assert f"{tmp_path}/run.toml:8:15: model.torchscript: {tmp_path}/missing.pt: no such file" in err, err
    err = refused("garbage.pt", "layer4")
    assert f"run.toml:8:15: model.torchscript: {tmp_path}/garbage.pt: not a TorchScript archive" in err, err
    # A traced module: module paths as for a scripted one.
    err = refused("traced.pt", "layer4.1.conv9")
    assert (f"run.toml:11:9: plugin.gradcam.layer = \"layer4.1.conv9\": the TorchScript model has no module at path "
            f"'layer4.1.conv9'; nearest module paths: layer4.1.conv1, layer4.1.conv2") in err, err
