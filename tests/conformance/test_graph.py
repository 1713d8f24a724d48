"""add_graph acceptance: TensorBoard 2.21's own loaders read the GraphDefs that the C++ SDK
writes (tests/tools/write_graph.cpp), and the graphs match what PyTorch's Python
SummaryWriter.add_graph writes for the same architectures.

Documented differences from PyTorch (see docs/graphs.md):
  * C++ modules have no forward hooks. Ops of a parameter-free submodule called from a custom
    forward (SimpleCNN's `pool`) appear in the caller's scope (SimpleCNN/...), where PyTorch
    shows SimpleCNN/MaxPool2d[pool]/...; ops that read parameters (conv, linear) and every op
    of a Sequential's children carry the same scopes as PyTorch's.
  * Value names are the C++ tracer's numbers (SimpleCNN/Conv2d[conv1]/29), not the Python
    variable names PyTorch's tracer finds (input.1); parameters are prim::GetAttr nodes named
    <scope>/<attr>/<attr>.N as in PyTorch, without PyTorch's dangling input to the module.
  * The C++ tracer does not pool constants per module as torch.jit.trace does, so there are
    more prim::Constant / prim::ListConstruct nodes (the aten ops are the same multiset).
  * No TaggedRunMetadata "step1" record (PyTorch's hard-coded CPU step stats) is written.
  * TorchScript modules: PyTorch draws every op at the root and hides F.relu inside the
    prim::If of its `inplace` flag; trainscope folds constant branches (aten::relu shows) and
    scopes nodes by the inliner's module call stack (SimpleCNN/Conv2d[conv1]/...).
"""

from __future__ import annotations

import math
import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

import tb_helpers

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

EXPERIMENT = ""


# ----------------------------------------------------------------------------------------
# Writing and loading


def _tool() -> Path:
    tools_dir = os.environ.get("TRAINSCOPE_TOOLS_DIR")
    exe = (Path(tools_dir) if tools_dir else tb_helpers.REPO_ROOT / "build" / "tests") / "write_graph"
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        pytest.fail(f"{exe} not found: build it first (ninja -C build write_graph)", pytrace=False)
    return exe


def write_cpp(run_dir: Path, model: str, *extra: str) -> str:
    """Runs write_graph; returns its stderr (the add_graph notes)."""
    proc = subprocess.run(
        [str(_tool()), str(run_dir), model, *extra], capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        pytest.fail(f"write_graph {model} exited with {proc.returncode}:\n{proc.stderr}", pytrace=False)
    return proc.stderr


def write_python(run_dir: Path, model, example) -> None:
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(run_dir)) as w:
        w.add_graph(model, example)


def load_graphs(logdir: Path) -> dict:
    """run -> GraphDef, read twice with TensorBoard's own code: EventMultiplexer.Graph and the
    graphs plugin's graph_impl (what the dashboard's /graph route serves, as pbtxt). Both must
    agree, and TensorBoard must log no problem while loading."""
    from google.protobuf import text_format
    from tensorboard.compat.proto import graph_pb2
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.graph import graphs_plugin

    loaded = tb_helpers.load_logdir(logdir)
    assert tb_helpers.log_problems(loaded.log) == []
    plugin = graphs_plugin.GraphsPlugin(base_plugin.TBContext(data_provider=loaded.provider, logdir=str(logdir)))
    info = plugin.info_impl(loaded.ctx, experiment=EXPERIMENT)
    out = {}
    for run in loaded.runs():
        assert info[run]["run_graph"], f"graphs dashboard lists no graph for run {run}: {info[run]}"
        body, mime = plugin.graph_impl(loaded.ctx, run, None, False, experiment=EXPERIMENT)
        assert mime == "text/x-protobuf"
        served = text_format.Parse(body, graph_pb2.GraphDef())
        from_mux = loaded.multiplexer.Graph(run)
        assert served == from_mux
        out[run] = served
    return out


# ----------------------------------------------------------------------------------------
# Graph views


def scope(name: str) -> str:
    return name.rsplit("/", 1)[0]


def aten_ops(graph) -> Counter:
    return Counter(n.op for n in graph.node if n.op.startswith("aten::"))


def ops_with_scopes(graph, ops=None) -> Counter:
    return Counter(
        (n.op, scope(n.name)) for n in graph.node if n.op.startswith("aten::") and (ops is None or n.op in ops)
    )


def shapes(node) -> list:
    if "_output_shapes" not in node.attr:
        return []
    return [[d.size for d in s.dim] for s in node.attr["_output_shapes"].list.shape]


def ops_with_shapes(graph) -> Counter:
    return Counter((n.op, str(shapes(n))) for n in graph.node if n.op.startswith("aten::"))


def param_scopes(graph) -> Counter:
    """<module scope>/<attr> of every parameter node."""
    return Counter(scope(n.name) for n in graph.node if n.op == "prim::GetAttr")


def assert_inputs_resolve(graph) -> None:
    names = {n.name for n in graph.node}
    assert len(names) == len(graph.node), "node names are not unique"
    for n in graph.node:
        for i in n.input:
            assert i in names, f"{n.name} reads {i}, which is not a node"


# ----------------------------------------------------------------------------------------
# The models (same architectures as write_graph.cpp)


class SimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def sequential_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip


CNN_OPS = Counter(
    {"aten::_convolution": 2, "aten::relu": 4, "aten::max_pool2d": 2, "aten::flatten": 1, "aten::linear": 3}
)


def example():
    return torch.randn(1, 3, 32, 32)


# ----------------------------------------------------------------------------------------
# Tests


def test_cnn_graph_reads_in_tensorboard_with_scoped_names(tmp_path):
    assert write_cpp(tmp_path / "cnn", "cnn") == ""
    g = load_graphs(tmp_path)["cnn"]
    assert_inputs_resolve(g)
    assert g.versions.producer == 22
    assert aten_ops(g) == CNN_OPS
    ops = Counter(n.op for n in g.node)
    assert ops["prim::GetAttr"] == 10 and ops["IO Node"] == 2
    # The rest are the constants and int lists feeding the aten ops.
    assert len(g.node) == 12 + 10 + 2 + ops["prim::Constant"] + ops["prim::ListConstruct"]
    assert ops_with_scopes(g, {"aten::_convolution", "aten::linear"}) == Counter(
        {
            ("aten::_convolution", "SimpleCNN/Conv2d[conv1]"): 1,
            ("aten::_convolution", "SimpleCNN/Conv2d[conv2]"): 1,
            ("aten::linear", "SimpleCNN/Linear[fc1]"): 1,
            ("aten::linear", "SimpleCNN/Linear[fc2]"): 1,
            ("aten::linear", "SimpleCNN/Linear[fc3]"): 1,
        }
    )
    by_name = {n.name: n for n in g.node}
    (conv1,) = [n for n in g.node if scope(n.name) == "SimpleCNN/Conv2d[conv1]" and n.op == "aten::_convolution"]
    assert shapes(conv1) == [[1, 6, 28, 28]]
    assert conv1.device == "/device:CPU:0"
    assert by_name[conv1.input[0]].op == "IO Node" and shapes(by_name[conv1.input[0]]) == [[1, 3, 32, 32]]
    weight = by_name[conv1.input[1]]
    assert weight.op == "prim::GetAttr" and scope(weight.name) == "SimpleCNN/Conv2d[conv1]/weight"
    assert weight.attr["attr"].s == b"{ name :  weight }" and shapes(weight) == [[6, 3, 5, 5]]
    out = by_name["output/output.1"]
    assert out.op == "IO Node" and shapes(out) == [[1, 10]]
    assert by_name[out.input[0]].op == "aten::linear"


def test_cnn_matches_pytorch_add_graph(tmp_path):
    write_cpp(tmp_path / "cpp", "cnn")
    write_python(tmp_path / "py", SimpleCNN(), example())
    graphs = load_graphs(tmp_path)
    cpp, py = graphs["cpp"], graphs["py"]
    assert aten_ops(py) == CNN_OPS  # the reference is what we think it is
    assert aten_ops(cpp) == aten_ops(py)
    assert ops_with_shapes(cpp) == ops_with_shapes(py)
    # Ops that read parameters carry PyTorch's scopes; so do the parameters themselves.
    param_ops = {"aten::_convolution", "aten::linear"}
    assert ops_with_scopes(cpp, param_ops) == ops_with_scopes(py, param_ops)
    assert param_scopes(cpp) == param_scopes(py)
    # relu is called from SimpleCNN.forward: the root scope on both sides.
    assert ops_with_scopes(cpp, {"aten::relu"}) == ops_with_scopes(py, {"aten::relu"})
    # Documented difference: PyTorch scopes pool's ops by its forward hook; C++ cannot.
    assert ops_with_scopes(py, {"aten::max_pool2d"}) == Counter({("aten::max_pool2d", "SimpleCNN/MaxPool2d[pool]"): 2})
    assert ops_with_scopes(cpp, {"aten::max_pool2d"}) == Counter({("aten::max_pool2d", "SimpleCNN"): 2})


def test_sequential_matches_pytorch_scope_for_scope(tmp_path):
    write_cpp(tmp_path / "cpp", "sequential")
    write_python(tmp_path / "py", sequential_cnn(), example())
    graphs = load_graphs(tmp_path)
    cpp, py = graphs["cpp"], graphs["py"]
    assert_inputs_resolve(cpp)
    assert aten_ops(cpp) == CNN_OPS
    assert ops_with_scopes(cpp) == ops_with_scopes(py)
    assert ops_with_shapes(cpp) == ops_with_shapes(py)
    assert param_scopes(cpp) == param_scopes(py)
    assert ("aten::max_pool2d", "Sequential/MaxPool2d[2]") in ops_with_scopes(cpp)


@pytest.mark.parametrize(
    "model, why",
    [("throwing", "forward failed on purpose"), ("datadep", "data-dependent control flow")],
)
def test_failed_trace_writes_structural_graph_and_one_note(tmp_path, model, why):
    err = write_cpp(tmp_path / model, model)
    lines = err.splitlines()
    assert len(lines) == 1 and "add_graph: tracing Fragile failed" in lines[0] and why in lines[0], err
    g = load_graphs(tmp_path)[model]
    assert_inputs_resolve(g)
    by_name = {n.name: n for n in g.node}
    assert set(by_name) == {"input/input.1", "Fragile/Fragile", "Fragile/Linear[fc]"}
    assert by_name["Fragile/Fragile"].op == "Fragile"
    assert list(by_name["Fragile/Fragile"].input) == ["input/input.1"]
    fc = by_name["Fragile/Linear[fc]"]
    assert fc.op == "Linear" and list(fc.input) == ["Fragile/Fragile"]
    assert list(fc.attr["parameter_names"].list.s) == [b"weight", b"bias"]
    assert [[d.size for d in s.dim] for s in fc.attr["parameter_shapes"].list.shape] == [[2, 4], [2]]
    assert shapes(by_name["input/input.1"]) == [[2, 4]]


def test_torchscript_module_graph(tmp_path):
    scripted = torch.jit.script(SimpleCNN())
    saved = tmp_path / "scripted.pt"
    scripted.save(str(saved))
    logdir = tmp_path / "logs"
    assert write_cpp(logdir / "cpp", "script", str(saved)) == ""
    write_python(logdir / "py", scripted, example())
    graphs = load_graphs(logdir)
    cpp, py = graphs["cpp"], graphs["py"]
    assert_inputs_resolve(cpp)
    want = Counter({"aten::conv2d": 2, "aten::relu": 4, "aten::max_pool2d": 2, "aten::flatten": 1, "aten::linear": 3})
    assert aten_ops(cpp) == want
    # Documented difference: PyTorch leaves F.relu inside the prim::If of its inplace flag.
    assert aten_ops(py) == want - Counter({"aten::relu": 4})
    assert Counter(n.op for n in py.node)["prim::If"] == 4
    assert param_scopes(cpp) == param_scopes(py)
    assert ops_with_scopes(cpp, {"aten::conv2d", "aten::linear", "aten::max_pool2d"}) == Counter(
        {
            ("aten::conv2d", "SimpleCNN/Conv2d[conv1]"): 1,
            ("aten::conv2d", "SimpleCNN/Conv2d[conv2]"): 1,
            ("aten::max_pool2d", "SimpleCNN/MaxPool2d[pool]"): 2,
            ("aten::linear", "SimpleCNN/Linear[fc1]"): 1,
            ("aten::linear", "SimpleCNN/Linear[fc2]"): 1,
            ("aten::linear", "SimpleCNN/Linear[fc3]"): 1,
        }
    )
    # Shapes come from one run on the example input.
    assert ops_with_shapes(cpp)[("aten::linear", "[[1, 120]]")] == 1
    assert ops_with_shapes(cpp)[("aten::conv2d", "[[1, 6, 28, 28]]")] == 1


# ----------------------------------------------------------------------------------------
# The zoo's transformer_encoder (core/src/models.cpp), trained by `trainscope run` with the
# graph plugin, against the same architecture in Python


class SelfAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = 1.0 / math.sqrt(dim // heads)
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x):
        def split(t):  # [B, T, D] -> [B, heads, T, D / heads]
            return t.unflatten(-1, (self.heads, -1)).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        weights = (q.matmul(k.transpose(-2, -1)) * self.scale).softmax(-1)
        return self.out_proj(weights.matmul(v).transpose(1, 2).flatten(2))


class EncoderLayer(nn.Module):
    """nn.TransformerEncoderLayer's default form (post-norm, ReLU, its attribute names)."""

    def __init__(self, dim, heads, ff):
        super().__init__()
        self.self_attn = SelfAttention(dim, heads)
        self.linear1 = nn.Linear(dim, ff)
        self.linear2 = nn.Linear(ff, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x):
        x = self.norm1(x + self.self_attn(x))
        return self.norm2(x + self.linear2(F.relu(self.linear1(x))))


class TransformerEncoder(nn.Module):
    """Image rows as tokens, linear embedding + learned positions, encoder layers, mean, head."""

    def __init__(self, chw, classes, dim, heads, layers, ff):
        super().__init__()
        self.embed = nn.Linear(chw[0] * chw[2], dim)
        self.pos = nn.Parameter(torch.randn(1, chw[1], dim) * 0.02)
        self.layers = nn.Sequential(*[EncoderLayer(dim, heads, ff) for _ in range(layers)])
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = x.permute(0, 2, 1, 3).flatten(2)
        x = self.embed(x) + self.pos
        return self.head(self.layers(x).mean(1))


TRANSFORMER_RUN = """
[run]
name = "cpp"
log_dir = "{log_dir}"
seed = 3
device = "cpu"

[trainer]
epochs = 4
batch_size = 16
lr = 0.003
checkpoint_every_n_epochs = 0

[data]
dataset = "synthetic"
synthetic_samples = 64
synthetic_classes = 4

[model]
name = "transformer_encoder"
d_model = 32
nhead = 4
num_layers = 2
dim_feedforward = 48

[[plugin]]
name = "graph"
on_error = "abort"

[[plugin]]
name = "scalars"
"""


def trainscope_cli() -> Path:
    build = Path(os.environ.get("TRAINSCOPE_BUILD_DIR", tb_helpers.REPO_ROOT / "build"))
    exe = build / "core" / "trainscope"
    if not exe.is_file():
        pytest.fail(f"{exe} not found: build it first (ninja -C build trainscope graph scalars)", pytrace=False)
    return exe


def test_transformer_encoder_trains_from_toml_and_matches_pytorch_add_graph(tmp_path):
    logdir = tmp_path / "logs"
    cfg = tmp_path / "transformer.toml"
    cfg.write_text(TRANSFORMER_RUN.format(log_dir=logdir))
    proc = subprocess.run([str(trainscope_cli()), "run", str(cfg)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"trainscope run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    assert "structural graph" not in proc.stderr, proc.stderr  # the trace itself succeeded
    torch.manual_seed(0)
    write_python(logdir / "py", TransformerEncoder((1, 28, 28), 4, 32, 4, 2, 48), torch.randn(1, 1, 28, 28))
    graphs = load_graphs(logdir)
    cpp, py = graphs["cpp"], graphs["py"]
    assert_inputs_resolve(cpp)

    # The reference is what we think it is: 2 layers of 6 linears and 2 norms, then the head.
    per_layer = {"aten::linear": 6, "aten::layer_norm": 2, "aten::softmax": 1, "aten::matmul": 2, "aten::relu": 1}
    for op, n in per_layer.items():
        assert aten_ops(py)[op] == 2 * n + (2 if op == "aten::linear" else 0), (op, aten_ops(py))
    # Same op kinds, each as often and with the same output shapes.
    assert aten_ops(cpp) == aten_ops(py)
    assert ops_with_shapes(cpp) == ops_with_shapes(py)
    # Scoped per layer as PyTorch scopes them: every parameter, and every op that reads one.
    assert param_scopes(cpp) == param_scopes(py)
    param_ops = {"aten::linear", "aten::layer_norm"}
    assert ops_with_scopes(cpp, param_ops) == ops_with_scopes(py, param_ops)
    layer0 = "TransformerEncoder/Sequential[layers]/EncoderLayer[0]"
    assert ops_with_scopes(cpp, {"aten::linear"})[("aten::linear", f"{layer0}/SelfAttention[self_attn]/Linear[q_proj]")] == 1
    assert ops_with_scopes(cpp, {"aten::layer_norm"})[("aten::layer_norm", f"{layer0}/LayerNorm[norm2]")] == 1
    # The attention's own ops (split, scores, softmax, weighted sum) land in self_attn, the
    # feed-forward's relu in its layer, the pooling at the root, as in PyTorch.
    attention = {"aten::unflatten", "aten::transpose", "aten::matmul", "aten::mul", "aten::softmax", "aten::flatten",
                 "aten::relu", "aten::mean", "aten::permute"}  # fmt: skip
    assert ops_with_scopes(cpp, attention) == ops_with_scopes(py, attention)
    assert ops_with_scopes(cpp, {"aten::softmax"})[("aten::softmax", f"{layer0}/SelfAttention[self_attn]")] == 1
    # Documented difference, the only one: the attention's residual add (x + self_attn(x)) reads
    # no parameter, and C++ has no forward hook to say it runs inside EncoderLayer.forward; it
    # goes to the module common to its inputs (the root for the first layer, whose x comes from
    # the embedding). The feed-forward's residual add has both inputs in its layer, as in PyTorch.
    layer1 = "TransformerEncoder/Sequential[layers]/EncoderLayer[1]"
    cpp_scopes, py_scopes = ops_with_scopes(cpp), ops_with_scopes(py)
    assert cpp_scopes - py_scopes == Counter(
        {("aten::add", "TransformerEncoder"): 1, ("aten::add", "TransformerEncoder/Sequential[layers]"): 1}
    )
    assert py_scopes - cpp_scopes == Counter({("aten::add", layer0): 1, ("aten::add", layer1): 1})

    # It trained: the scalars plugin's mean training loss fell from the first epoch to the last.
    loaded = tb_helpers.load_logdir(logdir)
    losses = [v for _, v in loaded.scalars("cpp")["train/loss"]]
    assert len(losses) == 4 and losses[-1] < losses[0], losses


def test_transformer_encoder_options_are_checked_at_their_line(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[model]\nname = "transformer_encoder"\nd_model = 30\nnhead = 4\nnum_layers = 0\n')
    proc = subprocess.run([str(trainscope_cli()), "validate", str(cfg)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert f"{cfg}:4:9: model.nhead = 4: nhead (4) must divide d_model (30) into equal heads; e.g. d_model = 32" in (
        proc.stderr
    ), proc.stderr
    assert f"{cfg}:5:14: model.num_layers = 0" in proc.stderr, proc.stderr
