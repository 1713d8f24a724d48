"""PR curves, meshes and embeddings written by the C++ SDK (tests/tools/write_rich.cpp).

Two kinds of evidence:
  1. TensorBoard 2.21's own code reads them: pr_curves and mesh tensors through
     EventMultiplexer + MultiplexerDataProvider and the plugins' routes (PrCurvesPlugin,
     MeshPlugin); embeddings through ProjectorPlugin over a TBContext on the log dir (its
     /info, /tensor, /metadata and /sprite_image routes).
  2. PyTorch's Python SummaryWriter on identical inputs writes the same thing: PR-curve
     tensors bit for bit, mesh tensors and plugin metadata equal, projector files byte for
     byte (tensors.tsv, metadata.tsv, projector_config.pbtxt) and sprite pixels equal.

Set TRAINSCOPE_TEST_DEVICE=cuda to run the C++ side on the GPU (the device test below also
compares a CUDA run against the CPU run when a GPU is there).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import tb_helpers as tbh

TOOL = "write_rich"
SEED = 20_240_611

_DTYPES = {
    np.dtype(np.float32): "float32",
    np.dtype(np.float64): "float64",
    np.dtype(np.float16): "float16",
    np.dtype(np.uint8): "uint8",
    np.dtype(np.int32): "int32",
    np.dtype(np.int64): "int64",
    np.dtype(np.bool_): "bool",
}


# ----------------------------------------------------------------------------------------
# Driving the C++ tool


def tool_path() -> Path:
    base = Path(os.environ.get("TRAINSCOPE_TOOLS_DIR") or tbh.REPO_ROOT / "build" / "tests")
    exe = base / TOOL
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        pytest.fail(f"{exe} not found: build it first (ninja -C build {TOOL})", pytrace=False)
    return exe


class RichManifest:
    """Builds a write_rich manifest (see tests/tools/write_rich.cpp) in `folder`."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lines: list[str] = []
        self._n = 0

    def _name(self, suffix):
        self._n += 1
        return f"f{self._n:04d}{suffix}"

    def tensor(self, array) -> str:
        if array is None:
            return "-"
        array = np.asarray(array)
        name = self._name(".bin")
        (self.folder / name).write_bytes(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes())
        return f"{name}:{_DTYPES[array.dtype]}:{','.join(str(d) for d in array.shape)}"

    def pr_curve(self, tag, step, labels, predictions, num_thresholds=127, weights=None):
        self.lines.append(
            f"pr_curve {tag} {step} {self.tensor(labels)} {self.tensor(predictions)} {num_thresholds} "
            f"{self.tensor(weights)}"
        )

    def pr_curve_raw(self, tag, step, rows, num_thresholds=127):
        self.lines.append(f"pr_curve_raw {tag} {step} {num_thresholds} " + " ".join(self.tensor(r) for r in rows))

    def mesh(self, tag, step, vertices, colors=None, faces=None, config=None):
        cfg = "-"
        if config is not None:
            cfg = self._name(".json")
            (self.folder / cfg).write_text(json.dumps(config, sort_keys=True))  # what PyTorch stores
        self.lines.append(
            f"mesh {tag} {step} {self.tensor(vertices)} {self.tensor(colors)} {self.tensor(faces)} {cfg}"
        )

    def embedding(self, tag, step, mat, metadata=None, label_img=None, header=None):
        meta, mode = "-", "labels"
        if metadata is not None:
            meta = self._name(".tsv")
            if header:
                rows = ["\t".join(map(str, r)) for r in [header] + list(metadata)]
            else:
                rows = [str(r) for r in metadata]
            (self.folder / meta).write_text("".join(r + "\n" for r in rows))
            mode = "header" if header else "labels"
        self.lines.append(
            f"embedding {tag} {step} {self.tensor(mat)} {meta} {self.tensor(label_img)} {mode}"
        )

    def write(self) -> Path:
        path = self.folder / "manifest.txt"
        path.write_text("\n".join(self.lines) + "\n")
        return path


def run_tool(logdir: Path, manifest: RichManifest, *, check=True, device=None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if device is not None:
        env["TRAINSCOPE_TEST_DEVICE"] = device
    proc = subprocess.run(
        [str(tool_path()), str(logdir), str(manifest.write())], capture_output=True, text=True, timeout=300, env=env
    )
    if check and proc.returncode != 0:
        pytest.fail(f"write_rich exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    return proc


def torch_writer(logdir: Path):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(logdir))


def _tensors(loaded: tbh.Loaded, plugin: str) -> dict[str, list[tuple[int, np.ndarray]]]:
    problems = tbh.log_problems(loaded.log)
    assert not problems, problems
    return loaded.tensors(plugin)


# ----------------------------------------------------------------------------------------
# PR curves


def _pr_cases(rng):
    """(tag, labels, predictions, num_thresholds, weights) covering PyTorch's edge cases."""
    n = 3000
    labels = rng.integers(0, 2, n)
    preds = rng.random(n, dtype=np.float32)
    big = 200_000  # > numpy.histogram's 65536 block: its blocked float64 sums must be matched
    outside = rng.random(n, dtype=np.float32) * 1.4 - 0.2  # some < 0 or > 1: PyTorch drops them
    outside[:5] = [np.nan, 1.0, 0.0, -0.0, 1.0 + 1 / 126]
    return [
        ("pr/default", labels.astype(np.int64), preds, 127, None),
        ("pr/ten", labels.astype(np.float32), preds, 10, None),
        ("pr/capped", labels.astype(np.int32), preds, 500, None),
        ("pr/two", labels.astype(np.bool_), preds.astype(np.float64), 2, None),
        ("pr/outside", labels.astype(np.int64), outside, 127, None),
        ("pr/half", labels.astype(np.int64), preds.astype(np.float16), 33, None),
        ("pr/weighted", labels.astype(np.int64), preds, 127, rng.random(n, dtype=np.float32) * 3),
        (
            "pr/weighted_big",
            rng.integers(0, 2, big).astype(np.float32),
            rng.random(big, dtype=np.float32),
            127,
            rng.standard_normal(big).astype(np.float32),
        ),
    ]


@pytest.fixture(scope="module")
def pr_pair(tmp_path_factory):
    import torch

    rng = np.random.default_rng(SEED)
    cases = _pr_cases(rng)
    raw = [rng.random(50).astype(np.float32) * 100 for _ in range(6)]
    raw[0] = np.arange(50, dtype=np.int64) * 123457  # ints go through float64 first
    root = tmp_path_factory.mktemp("pr")
    m = RichManifest(root / "inputs")
    w = torch_writer(root / "theirs")
    for step, (tag, labels, preds, nt, weights) in enumerate(cases):
        m.pr_curve(tag, step, labels, preds, nt, weights)
        w.add_pr_curve(tag, torch.from_numpy(labels), torch.from_numpy(preds), step, num_thresholds=nt, weights=weights)
    m.pr_curve_raw("pr/raw", 7, raw, num_thresholds=50)
    w.add_pr_curve_raw("pr/raw", *[torch.from_numpy(r) for r in raw], global_step=7, num_thresholds=50)
    w.close()
    run_tool(root / "ours", m)
    return cases, tbh.load_logdir(root / "ours"), tbh.load_logdir(root / "theirs"), root


def test_pr_curves_load_in_tensorboard_with_shape_6_by_n(pr_pair):
    from tensorboard.plugins.pr_curve import metadata as prm

    cases, ours, _, _ = pr_pair
    got = _tensors(ours, "pr_curves")
    assert set(got) == {c[0] for c in cases} | {"pr/raw"}
    for tag, _, _, nt, _ in cases:
        (step, arr), = got[tag]
        assert arr.dtype == np.float32 and arr.shape == (6, min(nt, 127)), (tag, arr.shape)
        md = prm.parse_plugin_metadata(ours.metadata(".", tag).plugin_data.content)
        assert (md.version, md.num_thresholds) == (0, min(nt, 127))
    (_, raw), = got["pr/raw"]
    assert raw.shape == (6, 50)


def test_pr_curves_values_are_right(pr_pair):
    """Independent of PyTorch: the counts follow the documented definitions."""
    cases, ours, _, _ = pr_pair
    got = _tensors(ours, "pr_curves")
    tag, labels, preds, nt, _ = cases[0]
    (_, arr), = got[tag]
    thresholds = np.arange(nt) / (nt - 1)
    bucket = np.floor(preds * np.float32(nt - 1))
    tp = [(labels[bucket >= i * 1.0] == 1).sum() for i in range(nt)]
    fp = [(labels[bucket >= i * 1.0] == 0).sum() for i in range(nt)]
    np.testing.assert_array_equal(arr[0], tp)
    np.testing.assert_array_equal(arr[1], fp)
    np.testing.assert_array_equal(arr[2], fp[0] - np.array(fp))
    np.testing.assert_array_equal(arr[3], tp[0] - np.array(tp))
    np.testing.assert_allclose(arr[4], np.array(tp) / np.maximum(1e-7, np.add(tp, fp)), rtol=1e-6)
    np.testing.assert_allclose(arr[5], np.array(tp) / np.maximum(1e-7, tp[0]), rtol=1e-6)
    assert len(thresholds) == arr.shape[1]


def _assert_same_curve(tag, xa, xb, on_gpu):
    """Same bits (NaN-aware): float64 arithmetic in numpy's order, then float32. One
    exception: on a GPU, non-integer weights are summed by scatter_add in another order
    (atomics), so those float64 sums differ by rounding only (relative ~1e-16 per addition,
    far below float32's 6e-8); they are compared within float32 resolution."""
    if on_gpu and "weighted" in tag:
        np.testing.assert_allclose(xa, xb, rtol=1e-6, atol=1e-6 * np.nanmax(np.abs(xb)), err_msg=tag)
    else:
        np.testing.assert_array_equal(xa.view(np.uint32), xb.view(np.uint32), err_msg=tag)


def test_pr_curves_equal_pytorch_bit_for_bit(pr_pair):
    cases, ours, theirs, _ = pr_pair
    a, b = _tensors(ours, "pr_curves"), _tensors(theirs, "pr_curves")
    assert set(a) == set(b)
    for tag in a:
        (sa, xa), = a[tag]
        (sb, xb), = b[tag]
        assert sa == sb and xa.shape == xb.shape, tag
        _assert_same_curve(tag, xa, xb, on_gpu=os.environ.get("TRAINSCOPE_TEST_DEVICE", "cpu") != "cpu")
        assert ours.metadata(".", tag).plugin_data.content == theirs.metadata(".", tag).plugin_data.content


def test_pr_curves_plugin_serves_them(pr_pair):
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider  # noqa: F401
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.pr_curve import pr_curves_plugin

    cases, ours, _, root = pr_pair
    plugin = pr_curves_plugin.PrCurvesPlugin(
        base_plugin.TBContext(logdir=str(root / "ours"), data_provider=ours.provider)
    )
    tags = plugin.tags_impl(context.RequestContext(), experiment="")
    assert set(tags["."]) == {c[0] for c in cases} | {"pr/raw"}
    curves = plugin.pr_curves_impl(context.RequestContext(), "", ["."], "pr/default")
    entry = curves["."][0]
    # The plugin trims the tail where TP + FP == 0; the thresholds are linspace(0, 1, 127).
    k = len(entry["thresholds"])
    assert entry["step"] == 0 and 120 <= k <= 127
    np.testing.assert_allclose(entry["thresholds"], np.linspace(0.0, 1.0, 127)[:k])
    assert entry["true_positives"][0] == int(cases[0][1].sum())


# ----------------------------------------------------------------------------------------
# Meshes


def _mesh_cases(rng):
    v = rng.standard_normal((1, 200, 3)).astype(np.float32)
    c = rng.integers(0, 256, (1, 200, 3)).astype(np.uint8)
    f = rng.integers(0, 200, (1, 120, 3)).astype(np.int32)
    v2 = rng.standard_normal((2, 64, 3))  # float64 (rounded to float32), batch of 2
    f2 = rng.integers(0, 64, (2, 30, 3)).astype(np.int64)
    cfg = {"camera": {"cls": "PerspectiveCamera", "fov": 75}, "lights": [{"cls": "AmbientLight", "intensity": 0.75}]}
    return [
        ("mesh/full", 0, v, c, f, cfg),
        ("mesh/points", 1, v, None, None, None),
        ("mesh/batch", 2, v2, None, f2, cfg),
        ("mesh/colored", 3, v, c, None, None),
    ]


@pytest.fixture(scope="module")
def mesh_pair(tmp_path_factory):
    import torch

    rng = np.random.default_rng(SEED + 1)
    cases = _mesh_cases(rng)
    root = tmp_path_factory.mktemp("mesh")
    m = RichManifest(root / "inputs")
    w = torch_writer(root / "theirs")
    t = lambda a: None if a is None else torch.from_numpy(a)  # noqa: E731
    for tag, step, v, c, f, cfg in cases:
        m.mesh(tag, step, v, c, f, cfg)
        w.add_mesh(tag, vertices=t(v), colors=t(c), faces=t(f), config_dict=cfg, global_step=step)
    w.close()
    run_tool(root / "ours", m)
    return cases, tbh.load_logdir(root / "ours"), tbh.load_logdir(root / "theirs"), root


def test_mesh_tensors_load_and_equal_pytorch(mesh_pair):
    from tensorboard.plugins.mesh import metadata as mm

    cases, ours, theirs, _ = mesh_pair
    a, b = _tensors(ours, "mesh"), _tensors(theirs, "mesh")
    expected = set()
    for tag, _, v, c, f, _ in cases:
        expected |= {f"{tag}_VERTEX"} | ({f"{tag}_COLOR"} if c is not None else set()) | (
            {f"{tag}_FACE"} if f is not None else set()
        )
    assert set(a) == expected == set(b)
    for tag in a:
        (sa, xa), = a[tag]
        (sb, xb), = b[tag]
        assert sa == sb and xa.dtype == np.float32 and xa.ndim == 3 and xa.shape[2] == 3
        np.testing.assert_array_equal(xa.view(np.uint32), xb.view(np.uint32), err_msg=tag)
        pa = mm.parse_plugin_metadata(ours.metadata(".", tag).plugin_data.content)
        pb = mm.parse_plugin_metadata(theirs.metadata(".", tag).plugin_data.content)
        assert pa == pb, (tag, pa, pb)
        assert list(pa.shape) == list(xa.shape)


def test_mesh_is_one_event_like_pytorch(mesh_pair):
    _, _, _, root = mesh_pair
    for side in ("ours", "theirs"):
        events = [e for e in tbh.raw_events(root / side) if e.HasField("summary") and e.summary.value]
        assert [[v.tag for v in e.summary.value] for e in events] == [
            ["mesh/full_VERTEX", "mesh/full_FACE", "mesh/full_COLOR"],
            ["mesh/points_VERTEX"],
            ["mesh/batch_VERTEX", "mesh/batch_FACE"],
            ["mesh/colored_VERTEX", "mesh/colored_COLOR"],
        ], side


def test_mesh_plugin_serves_them(mesh_pair):
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.mesh import mesh_plugin
    from werkzeug import test as wtest

    cases, ours, _, root = mesh_pair
    plugin = mesh_plugin.MeshPlugin(base_plugin.TBContext(logdir=str(root / "ours"), data_provider=ours.provider))
    apps = plugin.get_plugin_apps()
    tags = json.loads(wtest.Client(apps["/tags"]).get("/tags").get_data())
    assert tags["."] == {"mesh/full": {"samples": 1}, "mesh/points": {"samples": 1}, "mesh/batch": {"samples": 2},
                         "mesh/colored": {"samples": 1}}
    meta = json.loads(wtest.Client(apps["/meshes"]).get("/meshes?run=.&tag=mesh/full").get_data())
    assert sorted(m["content_type"] for m in meta) == [1, 2, 3]
    assert all(m["components"] == 0b1110 for m in meta)
    assert json.loads(meta[0]["config"]) == cases[0][5]
    tag, step, v, c, f, _ = cases[0]
    for kind, want, dt in (("VERTEX", v, np.float32), ("FACE", f, np.int32), ("COLOR", c, np.uint8)):
        body = wtest.Client(apps["/data"]).get(f"/data?run=.&tag={tag}&content_type={kind}&step={step}").get_data()
        np.testing.assert_array_equal(np.frombuffer(body, dtype=dt), want[0].reshape(-1).astype(dt))


# ----------------------------------------------------------------------------------------
# Embeddings


def _embedding_cases(rng):
    """(tag, step, mat, metadata, label_img, header), in the order of the config's keys."""
    specials = np.array(
        [0.0, -0.0, 1e-5, 1e-4, 1e16, 1e15, 1e-45, 3.4e38, 0.1, 123456792.0, np.inf, -np.inf, np.nan, -2.5e-7,
         1.0, 1e22], dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        tripled = specials * np.float32(3)  # 3.4e38 * 3 overflows to inf
    words = ["cat", "dog", "émeu", "x y", "#1", "", "a'b\"c"]
    n1 = 37
    return [
        # labels + RGB sprite; the grid (7 per row) is padded to 7x7 cells
        ("default", 0, rng.standard_normal((n1, 16)).astype(np.float32),
         [f"{words[i % len(words)]}{i}" for i in range(n1)], rng.random((n1, 3, 8, 8), dtype=np.float32), None),
        # several metadata columns with a header; float64 matrix; gray, non-square thumbnails
        ("with/slash%and\\back", 3, rng.standard_normal((20, 3)),
         [[f"p{i}", i % 3, f"{i * 0.5}"] for i in range(20)], rng.random((20, 1, 5, 9), dtype=np.float32),
         ["name", "class", "score"]),
        # values that exercise every branch of Python's float repr
        ("specials", 12345678, np.stack([specials, -specials, tripled]), None, None, None),
    ]


@pytest.fixture(scope="module")
def emb_pair(tmp_path_factory):
    import torch

    rng = np.random.default_rng(SEED + 2)
    cases = _embedding_cases(rng)
    root = tmp_path_factory.mktemp("emb")
    m = RichManifest(root / "inputs")
    w = torch_writer(root / "theirs")
    for tag, step, mat, meta, img, header in cases:
        m.embedding(tag, step, mat, meta, img, header)
        w.add_embedding(torch.from_numpy(mat), metadata=meta, label_img=None if img is None else torch.from_numpy(img),
                        global_step=step, tag=tag, metadata_header=header)
    w.close()
    run_tool(root / "ours", m)
    return cases, root


def _subdir(tag, step):
    return f"{str(step).zfill(5)}/" + tag.replace("%", "%25").replace("/", "%2f").replace("\\", "%5c")


def test_embedding_files_equal_pytorch(emb_pair):
    cases, root = emb_pair
    ours, theirs = root / "ours", root / "theirs"
    # The config lists the entries sorted by "<step>/<tag>", as the cases are ordered.
    assert (ours / "projector_config.pbtxt").read_bytes() == (theirs / "projector_config.pbtxt").read_bytes()
    for tag, step, mat, meta, img, header in cases:
        sub = _subdir(tag, step)
        # Byte for byte: each value printed as Python's repr(float(x)).
        assert (ours / sub / "tensors.tsv").read_bytes() == (theirs / sub / "tensors.tsv").read_bytes(), tag
        if meta is not None:
            assert (ours / sub / "metadata.tsv").read_bytes() == (theirs / sub / "metadata.tsv").read_bytes(), tag
        else:
            assert not (ours / sub / "metadata.tsv").exists()
        if img is not None:
            a = tbh.decode_png((ours / sub / "sprite.png").read_bytes())
            b = tbh.decode_png((theirs / sub / "sprite.png").read_bytes())
            assert a.shape == b.shape and a.shape[0] == a.shape[1], (a.shape, b.shape)
            np.testing.assert_array_equal(a, b)
        else:
            assert not (ours / sub / "sprite.png").exists()
    leftovers = [p for p in ours.rglob("*.tmp")]
    assert not leftovers


def test_projector_plugin_lists_and_serves_embeddings(emb_pair):
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.projector import projector_plugin
    from werkzeug import test as wtest

    cases, root = emb_pair
    loaded = tbh.load_logdir(root / "ours")  # the run dir has an event file: TensorBoard sees run "."
    assert "." in loaded.runs()
    plugin = projector_plugin.ProjectorPlugin(
        base_plugin.TBContext(logdir=str(root / "ours"), data_provider=loaded.provider)
    )
    apps = plugin.get_plugin_apps()

    def get(route, **args):
        from urllib.parse import urlencode

        resp = wtest.Client(apps[route]).get(route + "?" + urlencode(args))
        assert resp.status_code == 200, (route, args, resp.get_data())
        return resp.get_data()

    assert json.loads(get("/runs")) == ["."]
    info = json.loads(get("/info", run="."))
    by_name = {e["tensorName"]: e for e in info["embeddings"]}
    assert set(by_name) == {f"{tag}:{str(step).zfill(5)}" for tag, step, *_ in cases}
    for tag, step, mat, meta, img, header in cases:
        name = f"{tag}:{str(step).zfill(5)}"
        e = by_name[name]
        assert [int(d) for d in e["tensorShape"]] == list(mat.shape)
        tensor = np.frombuffer(get("/tensor", run=".", name=name), dtype=np.float32).reshape(mat.shape)
        np.testing.assert_array_equal(tensor, mat.astype(np.float32))
        if meta is not None:
            text = get("/metadata", run=".", name=name).decode("utf-8").split("\n")
            assert text[-1] == ""
            rows = text[:-1]
            if header:
                assert rows[0].split("\t") == header
                rows = rows[1:]
            assert rows == ["\t".join(map(str, r)) if header else str(r) for r in meta]
        if img is not None:
            n, _, h, w = img.shape
            assert [int(d) for d in e["sprite"]["singleImageDim"]] == [w, h]
            sprite = tbh.decode_png(get("/sprite_image", run=".", name=name))
            per_row = sprite.shape[1] // w
            assert per_row == int(np.ceil(np.sqrt(n)))
            gray = img.shape[1] == 1
            for i in (0, n - 1):
                r, c = divmod(i, per_row)
                cell = sprite[r * h:(r + 1) * h, c * w:(c + 1) * w]
                want = np.clip(img[i].astype(np.float64) * 255, 0, 255).astype(np.uint8).transpose(1, 2, 0)
                np.testing.assert_array_equal(cell, np.repeat(want, 3, axis=2) if gray else want)


def test_projector_config_merges_calls_and_keeps_one_entry_per_step_and_tag(tmp_path):
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    rng = np.random.default_rng(SEED + 3)
    m = RichManifest(tmp_path / "inputs")
    for tag, step in (("b", 1), ("a", 1), ("a", 0), ("b", 1)):
        m.embedding(tag, step, rng.standard_normal((4, 2)).astype(np.float32), [str(i) for i in range(4)])
    run_tool(tmp_path / "ours", m)
    config = text_format.Parse((tmp_path / "ours" / "projector_config.pbtxt").read_text(), ProjectorConfig())
    assert [e.tensor_name for e in config.embeddings] == ["a:00000", "a:00001", "b:00001"]
    assert all(e.metadata_path and not e.sprite.image_path for e in config.embeddings)


def test_uint8_sprite_keeps_pixel_values(tmp_path):
    """uint8 thumbnails are pixels (PyTorch would multiply them by 255 and saturate)."""
    img = np.arange(4 * 3 * 2 * 2, dtype=np.uint8).reshape(4, 3, 2, 2) * 5
    m = RichManifest(tmp_path / "inputs")
    m.embedding("u8", 0, np.ones((4, 2), np.float32), None, img)
    run_tool(tmp_path / "ours", m)
    sprite = tbh.decode_png((tmp_path / "ours" / "00000" / "u8" / "sprite.png").read_bytes())
    assert sprite.shape == (4, 4, 3)
    np.testing.assert_array_equal(sprite[0:2, 2:4], img[1].transpose(1, 2, 0))


# ----------------------------------------------------------------------------------------
# Bad input: a clear error, nothing written


@pytest.mark.parametrize(
    "build, needles",
    [
        (lambda m, r: m.embedding("e", 0, r.random((5, 3)), ["a", "b"]), ["add_embedding", "'e'", "2 labels", "5 rows"]),
        (lambda m, r: m.embedding("e", 0, r.random((5, 3, 2))), ["add_embedding", "'e'", "2-D", "[5, 3, 2]"]),
        (lambda m, r: m.embedding("e", 0, r.random((5, 3)), None, r.random((4, 3, 2, 2))), ["4 images", "5 rows"]),
        (lambda m, r: m.embedding("e", 0, r.random((5, 3)), None, r.random((5, 2, 2, 2))), ["1 or 3 channels"]),
        (lambda m, r: m.pr_curve("p", 0, np.ones(4), r.random(5)), ["add_pr_curve", "'p'", "4 elements", "5"]),
        (lambda m, r: m.pr_curve("p", 0, np.ones(4), r.random(4), 1), ["add_pr_curve", "num_thresholds", ">= 2"]),
        (lambda m, r: m.mesh("m", 0, r.random((1, 4, 2))), ["add_mesh", "'m'", "vertices", "[B, N, 3]"]),
        (lambda m, r: m.mesh("m", 0, r.random((1, 4, 3)), np.ones((1, 5, 3), np.uint8)), ["add_mesh", "colors"]),
    ],
)
def test_bad_input_is_rejected_and_nothing_is_written(tmp_path, build, needles):
    m = RichManifest(tmp_path / "inputs")
    build(m, np.random.default_rng(0))
    proc = run_tool(tmp_path / "ours", m, check=False)
    assert proc.returncode == 3, proc.stderr
    for n in needles:
        assert n in proc.stderr, (n, proc.stderr)
    files = sorted(p.name for p in (tmp_path / "ours").rglob("*"))
    assert len(files) == 1 and "tfevents" in files[0], files
    events = tbh.raw_events(tmp_path / "ours")
    assert len(events) == 1 and events[0].file_version  # only the file_version record


# ----------------------------------------------------------------------------------------
# The same calls on a GPU (skipped without one)


def test_cuda_run_matches_cpu_run(tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    rng = np.random.default_rng(SEED + 4)
    m = RichManifest(tmp_path / "inputs")
    for step, (tag, labels, preds, nt, weights) in enumerate(_pr_cases(rng)):
        m.pr_curve(tag, step, labels, preds, nt, weights)
    for tag, step, v, c, f, cfg in _mesh_cases(rng):
        m.mesh(tag, step, v, c, f, cfg)
    for tag, step, mat, meta, img, header in _embedding_cases(rng):
        m.embedding(tag, step, mat, meta, img, header)
    run_tool(tmp_path / "cpu", m, device="cpu")
    run_tool(tmp_path / "gpu", m, device="cuda")
    cpu, gpu = tbh.load_logdir(tmp_path / "cpu"), tbh.load_logdir(tmp_path / "gpu")
    for plugin in ("pr_curves", "mesh"):
        a, b = _tensors(cpu, plugin), _tensors(gpu, plugin)
        assert set(a) == set(b)
        for tag in a:
            xa, xb = a[tag][0][1], b[tag][0][1]
            _assert_same_curve(tag, xa, xb, on_gpu=True)
    names = sorted(str(p.relative_to(tmp_path / "cpu")) for p in (tmp_path / "cpu").rglob("*") if p.is_file()
                   and "tfevents" not in p.name)
    for name in names:
        a, b = (tmp_path / "cpu" / name).read_bytes(), (tmp_path / "gpu" / name).read_bytes()
        if name.endswith(".png"):
            np.testing.assert_array_equal(tbh.decode_png(a), tbh.decode_png(b))
        else:
            assert a == b, name
