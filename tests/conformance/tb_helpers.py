"""Shared code for the conformance tests: the write_summaries manifest, running the C++ tool,
loading a log dir with TensorBoard's own Python loader, and decoding PNG / GIF / WAV payloads.

TensorBoard is always read through its real loading path (what `tensorboard --load_fast=false`
uses): EventMultiplexer (AddRunsFromDirectory + Reload) wrapped by MultiplexerDataProvider.
That path migrates legacy values with tensorboard.data_compat:
  * histo  -> 'histograms' DT_FLOAT tensor [k, 3] rows (left, right, count), float32; empty
              buckets at both ends are dropped, the first left edge is `min` and the last
              right edge is `max`;
  * image  -> 'images' blob sequence [width, height, encoded image] (ASCII numbers);
  * audio  -> 'audio' [[wav, label]], which dataclass_compat then projects to a blob
              sequence of the clips alone: [wav];
  * simple_value -> 'scalars' rank-0 DT_FLOAT tensor.
dataclass_compat also sets each plugin's data class (text: DATA_CLASS_TENSOR).
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import logging
import os
import re
import subprocess
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL_NAME = "write_summaries"

# Reads every value (the data provider samples down to this many per time series).
ALL = 1 << 30
EXPERIMENT = ""


# ----------------------------------------------------------------------------------------
# The C++ tool


def tool_path() -> Path:
    """The write_summaries executable; fails the test (not skip) when it was not built."""
    tools_dir = os.environ.get("TRAINSCOPE_TOOLS_DIR")
    base = Path(tools_dir) if tools_dir else REPO_ROOT / "build" / "tests"
    exe = base / TOOL_NAME
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        pytest.fail(
            f"{exe} not found: build it first (ninja -C build write_summaries), or point "
            "TRAINSCOPE_TOOLS_DIR at the folder that holds it",
            pytrace=False,
        )
    return exe


def run_tool(logdir: Path, manifest: Path, *, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(tool_path()), str(logdir), str(manifest)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"write_summaries exited with {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}",
            pytrace=False,
        )
    return proc


_DTYPES = {
    np.dtype(np.float32): "float32",
    np.dtype(np.float64): "float64",
    np.dtype(np.uint8): "uint8",
    np.dtype(np.int32): "int32",
    np.dtype(np.int64): "int64",
}


class Manifest:
    """Builds a write_summaries manifest (see tests/tools/write_summaries.cpp) in `folder`."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lines: list[str] = []
        self._n = 0

    @staticmethod
    def _check_tag(tag: str) -> str:
        if not tag or any(c.isspace() for c in tag):
            raise ValueError(f"manifest tags cannot hold whitespace: {tag!r}")
        return tag

    def _blob(self, array: np.ndarray) -> tuple[str, str, str]:
        array = np.asarray(array)
        if array.dtype not in _DTYPES:
            raise ValueError(f"unsupported dtype {array.dtype}")
        name = f"a{self._n:04d}.bin"
        self._n += 1
        le = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        (self.folder / name).write_bytes(le.tobytes())
        shape = ",".join(str(d) for d in array.shape) if array.ndim else "1"
        return name, _DTYPES[array.dtype], shape

    def scalar(self, tag: str, step: int, value: float) -> None:
        self.lines.append(f"scalar {self._check_tag(tag)} {step} {float(value)!r}")

    def scalars(self, main_tag: str, step: int, values: dict[str, float]) -> None:
        kv = ",".join(f"{k}={float(v)!r}" for k, v in values.items())
        self.lines.append(f"scalars {self._check_tag(main_tag)} {step} {kv}")

    def histogram(self, tag: str, step: int, values: np.ndarray, bins="tensorflow", max_bins=None) -> None:
        name, dtype, shape = self._blob(values)
        if isinstance(bins, str):
            if bins != "tensorflow":
                raise ValueError("bins: 'tensorflow', an int or an array of edges")
            spec = "tensorflow"
        elif isinstance(bins, (int, np.integer)):
            spec = f"count:{int(bins)}"
        else:
            edges, _, _ = self._blob(np.asarray(bins, dtype=np.float64))
            spec = f"edges:{edges}"
        self.lines.append(
            f"histogram {self._check_tag(tag)} {step} {name} {dtype} {shape} {spec} {int(max_bins or 0)}"
        )

    def image(self, tag: str, step: int, image: np.ndarray, dataformats: str = "CHW") -> None:
        name, dtype, shape = self._blob(image)
        self.lines.append(f"image {self._check_tag(tag)} {step} {name} {dtype} {shape} {dataformats}")

    def images(self, tag: str, step: int, images: np.ndarray, dataformats: str = "NCHW") -> None:
        name, dtype, shape = self._blob(images)
        self.lines.append(f"images {self._check_tag(tag)} {step} {name} {dtype} {shape} {dataformats}")

    def text(self, tag: str, step: int, text: str) -> None:
        name = f"t{self._n:04d}.txt"
        self._n += 1
        (self.folder / name).write_bytes(text.encode("utf-8"))
        self.lines.append(f"text {self._check_tag(tag)} {step} {name}")

    def audio(self, tag: str, step: int, samples: np.ndarray, sample_rate: float = 44100) -> None:
        name, dtype, shape = self._blob(samples)
        self.lines.append(f"audio {self._check_tag(tag)} {step} {name} {dtype} {shape} {float(sample_rate)!r}")

    def video(self, tag: str, step: int, video: np.ndarray, fps: float = 4) -> None:
        name, dtype, shape = self._blob(video)
        self.lines.append(f"video {self._check_tag(tag)} {step} {name} {dtype} {shape} {float(fps)!r}")

    def write(self) -> Path:
        path = self.folder / "manifest.txt"
        path.write_text("\n".join(self.lines) + "\n")
        return path


# ----------------------------------------------------------------------------------------
# TensorBoard's loader


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@contextlib.contextmanager
def capture_tensorboard_log():
    """Captures everything the 'tensorboard' logger tree emits, DEBUG included."""
    logger = logging.getLogger("tensorboard")
    handler = _ListHandler()
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


# Words TensorBoard uses when it drops data: the stub record reader raises DataLossError
# ("failed header/event crc32 check", "truncated record") and the loader logs it at DEBUG.
_BAD_WORDS = ("corrupt", "truncat", "crc", "data loss", "dataloss")


def log_problems(records: list[logging.LogRecord]) -> list[str]:
    """Messages that say TensorBoard disliked the files: WARNING and above, or any level
    mentioning corrupt / truncated / CRC data."""
    out = []
    for r in records:
        msg = r.getMessage()
        if r.levelno >= logging.WARNING or any(w in msg.lower() for w in _BAD_WORDS):
            out.append(f"{r.levelname} {r.name}: {msg}")
    return out


@dataclass
class Loaded:
    logdir: Path
    provider: object
    multiplexer: object
    log: list = field(default_factory=list)
    ctx: object = None  # tensorboard.context.RequestContext (the provider insists on one)

    # --- listing
    def runs(self) -> set[str]:
        return set(self.multiplexer.Runs())

    def scalar_tags(self, plugin="scalars") -> dict[str, set[str]]:
        got = self.provider.list_scalars(self.ctx, experiment_id=EXPERIMENT, plugin_name=plugin)
        return {run: set(tags) for run, tags in got.items()}

    def tensor_tags(self, plugin) -> dict[str, set[str]]:
        got = self.provider.list_tensors(self.ctx, experiment_id=EXPERIMENT, plugin_name=plugin)
        return {run: set(tags) for run, tags in got.items()}

    def blob_tags(self, plugin) -> dict[str, set[str]]:
        got = self.provider.list_blob_sequences(self.ctx, experiment_id=EXPERIMENT, plugin_name=plugin)
        return {run: set(tags) for run, tags in got.items()}

    # --- reading
    def scalars(self, run=".", plugin="scalars") -> dict[str, list[tuple[int, float]]]:
        got = self.provider.read_scalars(self.ctx, experiment_id=EXPERIMENT, plugin_name=plugin, downsample=ALL)
        return {tag: [(d.step, d.value) for d in data] for tag, data in got.get(run, {}).items()}

    def tensors(self, plugin, run=".") -> dict[str, list[tuple[int, np.ndarray]]]:
        got = self.provider.read_tensors(self.ctx, experiment_id=EXPERIMENT, plugin_name=plugin, downsample=ALL)
        return {tag: [(d.step, d.numpy) for d in data] for tag, data in got.get(run, {}).items()}

    def blobs(self, plugin, run=".") -> dict[str, list[tuple[int, list[bytes]]]]:
        got = self.provider.read_blob_sequences(self.ctx, experiment_id=EXPERIMENT, plugin_name=plugin, downsample=ALL)
        out = {}
        for tag, data in got.get(run, {}).items():
            out[tag] = [
                (d.step, [self.provider.read_blob(self.ctx, blob_key=ref.blob_key) for ref in d.values]) for d in data
            ]
        return out

    def metadata(self, run, tag):
        return self.multiplexer.SummaryMetadata(run, tag)


def load_logdir(logdir: Path) -> Loaded:
    """Loads `logdir` with TensorBoard's Python loader, capturing its log at DEBUG level."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider as dp
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea
    from tensorboard.backend.event_processing import plugin_event_multiplexer as pem

    with capture_tensorboard_log() as records:
        # Keep every value: the default reservoir would sample tensors down to 500 per tag.
        mux = pem.EventMultiplexer(size_guidance=pea.STORE_EVERYTHING_SIZE_GUIDANCE)
        mux.AddRunsFromDirectory(str(logdir))
        mux.Reload()
    provider = dp.MultiplexerDataProvider(mux, str(logdir))
    return Loaded(Path(logdir), provider, mux, list(records), context.RequestContext())


def raw_events(run_dir: Path) -> list:
    """Every Event of every event file directly in `run_dir`, as written (no data_compat
    migration), parsed with TensorBoard's own record reader and event_pb2."""
    from tensorboard.backend.event_processing import event_file_loader

    events = []
    files = sorted(p for p in Path(run_dir).iterdir() if "tfevents" in p.name and p.is_file())
    assert files, f"no event file in {run_dir}"
    for path in files:
        events.extend(event_file_loader.LegacyEventFileLoader(str(path)).Load())
    return events


def raw_values(run_dir: Path) -> dict[str, list[tuple[int, object]]]:
    """tag -> [(step, Summary.Value)] from raw_events."""
    out: dict[str, list] = {}
    for ev in raw_events(run_dir):
        if ev.HasField("summary"):
            for v in ev.summary.value:
                out.setdefault(v.tag, []).append((ev.step, v))
    return out


# ----------------------------------------------------------------------------------------
# Payload decoding


def decode_png(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG", im.format
        return np.asarray(im.convert(im.mode))


def png_mode(data: bytes) -> str:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return im.mode


def decode_gif(data: bytes) -> tuple[list[np.ndarray], list[int], object]:
    """All frames of an animated GIF as RGB arrays, their durations (ms) and the loop count."""
    from PIL import Image, ImageSequence

    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "GIF", im.format
        frames, durations = [], []
        for frame in ImageSequence.Iterator(im):
            frames.append(np.asarray(frame.convert("RGB")))
            durations.append(frame.info.get("duration"))
        return frames, durations, im.info.get("loop")


@dataclass
class Wav:
    channels: int
    sample_width: int
    frame_rate: int
    frames: int
    compression: str
    samples: np.ndarray


def decode_wav(data: bytes) -> Wav:
    with wave.open(io.BytesIO(data), "rb") as w:
        n = w.getnframes()
        raw = w.readframes(n)
        return Wav(
            channels=w.getnchannels(),
            sample_width=w.getsampwidth(),
            frame_rate=w.getframerate(),
            frames=n,
            compression=w.getcomptype(),
            samples=np.frombuffer(raw, dtype="<i2").copy(),
        )


# ----------------------------------------------------------------------------------------
# Reference conversions, written from the documented contract (not from the SDK)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """uint8 stays; anything else is float32(x) * 255, clipped to [0, 255], truncated."""
    if x.dtype == np.uint8:
        return x
    return (x.astype(np.float32) * np.float32(255)).clip(0, 255).astype(np.uint8)


def to_hwc(x: np.ndarray, fmt: str) -> np.ndarray:
    """One image (CHW, HWC, HW, any order) to HWC with gray expanded to RGB."""
    fmt = fmt.upper()
    if len(fmt) == 2:
        hw = x.transpose([fmt.index(c) for c in "HW"])
        return np.stack([hw, hw, hw], axis=2)
    hwc = x.transpose([fmt.index(c) for c in "HWC"])
    return np.concatenate([hwc] * 3, axis=2) if hwc.shape[2] == 1 else hwc


def grid_hwc(x: np.ndarray, fmt: str, ncols: int = 8) -> np.ndarray:
    """A batch (NCHW / NHWC) tiled row-major, `ncols` per row, zero-filled, as HWC."""
    fmt = fmt.upper()
    nchw = x.transpose([fmt.index(c) for c in "NCHW"])
    if nchw.shape[1] == 1:
        nchw = np.concatenate([nchw] * 3, axis=1)
    n, c, h, w = nchw.shape
    cols = min(n, ncols)
    rows = -(-n // cols)
    out = np.zeros((rows * h, cols * w, c), dtype=nchw.dtype)
    for i in range(n):
        r, q = divmod(i, cols)
        out[r * h : (r + 1) * h, q * w : (q + 1) * w, :] = nchw[i].transpose(1, 2, 0)
    return out


def video_frames(v: np.ndarray) -> np.ndarray:
    """[N, T, C, H, W] to [T, H', W', C] uint8 frames: the N clips padded with black clips to
    a power of two and tiled 2**((bits(N)-1)//2) rows high; uint8 input goes through
    float32 / 255 and back (exact for every byte value)."""
    if v.dtype == np.uint8:
        v = v.astype(np.float32) / np.float32(255)
    b, t, c, h, w = v.shape
    if b & (b - 1):
        v = np.concatenate([v, np.zeros((2 ** b.bit_length() - b, t, c, h, w), v.dtype)], axis=0)
    rows = 2 ** ((b.bit_length() - 1) // 2)
    cols = v.shape[0] // rows
    tiled = v.reshape(rows, cols, t, c, h, w).transpose(2, 0, 4, 1, 5, 3).reshape(t, rows * h, cols * w, c)
    return to_uint8(tiled)


def pcm16(samples: np.ndarray) -> np.ndarray:
    """Mono float samples to 16-bit PCM: clipped to [-1, 1], times 32767 in float32,
    truncated toward zero."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1).clip(-1, 1)
    return (x * np.float32(32767)).astype("<i2")


def sum_tolerance(values: np.ndarray, squares: bool) -> float:
    """How far two float64 sums of the same n terms, taken in different orders, may be apart.

    Used for histogram sum / sum_squares. PyTorch's summary.histogram() converts the values
    to float64 (values.astype(float); it does not sum in float32) and reports sum = values.sum() (numpy pairwise summation) and sum_squares = values.dot(values)
    (BLAS). The SDK converts each value to double exactly as well and sums in double, but in
    another order (several SIMD lanes). The exact products and sums are the same, so only
    the rounding differs: each order is within (n - 1) * eps * sum(|terms|) of the exact
    result, and the two within twice that. A relative 1e-6 would be far too loose for this
    (it would even accept float32 accumulation); this bound is the tight, justified one.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    terms = np.abs(x * x) if squares else np.abs(x)
    return 2 * max(x.size - 1, 1) * np.finfo(np.float64).eps * float(terms.sum())


def tensorflow_edges() -> np.ndarray:
    """PyTorch's default histogram edges: 1e-12 * 1.1**k by repeated multiplication while
    < 1e20, mirrored around 0."""
    v, pos = 1e-12, []
    while v < 1e20:
        pos.append(v)
        v *= 1.1
    pos = np.array(pos)
    return np.concatenate([-pos[::-1], [0.0], pos])


def migrated_histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """What TensorBoard's data provider shows for a histogram of `values` over `edges`
    (numpy binning; data_compat keeps the non-empty support, left edge = min, right = max)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    counts, edges = np.histogram(values, bins=edges)
    nz = np.nonzero(counts)[0]
    lo, hi = nz[0], nz[-1]
    inner = list(edges[lo + 1 : hi + 1])
    lefts = [values.min()] + inner
    rights = inner + [values.max()]
    return np.array([lefts, rights, counts[lo : hi + 1]], dtype=np.float32).T


# ----------------------------------------------------------------------------------------
# expected_tags.txt: one expectation a line, '<kind> <pattern>' (kind: scalars, images, a tensor
# plugin's name, 'file' with a glob under the run dir, or 'graph'); '#' starts a comment.


def parse_expected_tags(path: Path) -> list[tuple[str, str]]:
    """(kind, pattern) per line; ValueError naming path:line for a malformed one."""
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kind, _, pattern = line.partition(" ")
        if not pattern.strip() and kind != "graph":
            raise ValueError(f"{path}:{n}: expected '<kind> <pattern>'")
        out.append((kind, pattern.strip()))
    return out


def _tags_of_kind(loaded, kind: str, run: str) -> set[str]:
    if kind == "scalars":
        got = loaded.scalar_tags("scalars")
    elif kind == "images":
        got = loaded.blob_tags("images")
    else:
        got = loaded.tensor_tags(kind)
    return got.get(run, set())


def unmet_expectations(loaded, run: str, run_dir: Path, expectations) -> list[str]:
    """The (kind, pattern) expectations that `run` of `loaded` does not meet, one line each:
    a tag kind needs a tag that re.fullmatch-es the pattern, 'file' a file under run_dir that
    fnmatch-es it, 'graph' a non-empty GraphDef."""
    missing = []
    for kind, pattern in expectations:
        if kind == "graph":
            if not loaded.multiplexer.Graph(run).node:
                missing.append("graph: empty GraphDef")
        elif kind == "file":
            files = [str(p.relative_to(run_dir)) for p in Path(run_dir).rglob("*") if p.is_file()]
            if not any(fnmatch.fnmatch(f, pattern) for f in files):
                missing.append(f"file {pattern} (files: {sorted(files)[:20]})")
        else:
            tags = _tags_of_kind(loaded, kind, run)
            if not any(re.fullmatch(pattern, t) for t in tags):
                missing.append(f"{kind} {pattern} (listed: {sorted(tags)[:30]})")
    return missing
