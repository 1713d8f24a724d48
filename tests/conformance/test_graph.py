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
