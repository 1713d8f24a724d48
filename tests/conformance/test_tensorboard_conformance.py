"""Acceptance point 2: a log dir written by the C++ SDK (tests/tools/write_summaries.cpp) loads
in the installed TensorBoard through its own Python loading code, every dashboard shows the
tags, steps and values that were written, and TensorBoard logs no complaint about the files.

All inputs are generated here; expected values come from the documented contract (numpy
binning, float*255 truncation, 16-bit PCM, make_grid tiling) computed in tb_helpers, never
from the SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import tb_helpers as tbh

SEED = 20240611


@dataclass
class Written:
    logdir: Path
    loaded: tbh.Loaded
    scalars: dict = field(default_factory=dict)  # tag -> [(step, value)]
    scalars_groups: dict = field(default_factory=dict)  # main_tag -> [(step, {key: value})]
    histograms: dict = field(default_factory=dict)  # tag -> [(step, values, edges)]
    images: dict = field(default_factory=dict)  # tag -> [(step, expected HWC uint8)]
    audio: dict = field(default_factory=dict)  # tag -> [(step, samples, rate)]
    texts: dict = field(default_factory=dict)  # tag -> [(step, text)]
    videos: dict = field(default_factory=dict)  # tag -> [(step, expected frames, fps)]


def _palette_video(rng, shape, colours):
    """uint8 [N, T, 3, H, W] video whose every frame uses at most `colours` colours."""
    n, t, c, h, w = shape
    palette = rng.integers(0, 256, size=(colours, c), dtype=np.uint8)
    idx = rng.integers(0, colours, size=(n, t, h, w))
    return palette[idx].transpose(0, 1, 4, 2, 3).copy()


@pytest.fixture(scope="module")
def written(tmp_path_factory, write_summaries_tool) -> Written:
    rng = np.random.default_rng(SEED)
    tmp = tmp_path_factory.mktemp("conformance")
    m = tbh.Manifest(tmp / "inputs")
    w = Written(logdir=tmp / "logs", loaded=None)

    # --- scalars (float32 on the wire), large and non-monotonic values, a 2**40 step
    for tag, points in {
        "loss": [(0, 1.5), (1, 0.1), (2, -3.25), (10, 1e30), (2**40, 1 / 3)],
        "nested/acc": [(s, float(rng.random())) for s in range(5)],
    }.items():
        for step, value in points:
            m.scalar(tag, step, value)
        w.scalars[tag] = points
    for main_tag, rows in {
        "compare": [(s, {"train": 1.0 / (s + 1), "val": 2.0 + s}) for s in range(3)],
        "group/sub": [(7, {"x": -0.5})],
    }.items():
        for step, values in rows:
            m.scalars(main_tag, step, values)
        w.scalars_groups[main_tag] = rows

    # --- histograms
    tf_edges = tbh.tensorflow_edges()
    for step in (0, 5):
        v = (rng.standard_normal(2000) * (step + 1)).astype(np.float32)
        v[:50] = 0.0  # exact zeros sit on the central edge
        m.histogram("hist/normal", step, v)
        w.histograms.setdefault("hist/normal", []).append((step, v, tf_edges))
    v = rng.uniform(-3, 7, size=(20, 50))
    m.histogram("hist/count20", 1, v, bins=20)
    w.histograms["hist/count20"] = [(1, v, np.histogram_bin_edges(v, bins=20))]
    edges = np.array([-1.0, -0.5, 0.0, 0.25, 1.0, 3.0])
    v = rng.uniform(-2, 4, size=500)  # values outside the edges are dropped
    m.histogram("hist/edges", 2, v, bins=edges)
    w.histograms["hist/edges"] = [(2, v, edges)]
    v = rng.integers(0, 256, size=(10, 30), dtype=np.uint8)
    m.histogram("hist/uint8", 3, v)
    w.histograms["hist/uint8"] = [(3, v, tf_edges)]

    # --- single images: every layout, 1/3/4 channels, float (with out-of-range values,
    # which are clipped) and uint8
    h_, w_ = 5, 7
    for fmt, c in [("CHW", 1), ("CHW", 3), ("CHW", 4), ("HWC", 1), ("HWC", 3), ("HWC", 4), ("HW", None)]:
        dims = {"C": c, "H": h_, "W": w_}
        shape = tuple(dims[k] for k in fmt)
        for dtype in ("float32", "float64", "uint8"):
            if dtype == "uint8":
                x = rng.integers(0, 256, size=shape, dtype=np.uint8)
            else:
                x = rng.uniform(-0.2, 1.2, size=shape).astype(dtype)
            tag = f"img/{fmt}{c or ''}_{dtype}"
            m.image(tag, 4, x, fmt)
            w.images[tag] = [(4, tbh.to_hwc(tbh.to_uint8(x), fmt))]
    # two steps of one tag
    for step in (0, 9):
        x = rng.integers(0, 256, size=(3, 4, 6), dtype=np.uint8)
        m.image("img/steps", step, x, "CHW")
        w.images.setdefault("img/steps", []).append((step, tbh.to_hwc(x, "CHW")))

    # --- batches tiled 8 per row; N not a multiple of 8
    for tag, fmt, shape, dtype in [
        ("batch/nchw3_f32", "NCHW", (5, 3, 4, 6), "float32"),
        ("batch/nhwc1_u8", "NHWC", (11, 4, 3, 1), "uint8"),
        ("batch/nchw4_u8", "NCHW", (9, 4, 3, 5), "uint8"),
        ("batch/nhwc3_f64", "NHWC", (17, 2, 3, 3), "float64"),
    ]:
        if dtype == "uint8":
            x = rng.integers(0, 256, size=shape, dtype=np.uint8)
        else:
            x = rng.uniform(-0.1, 1.1, size=shape).astype(dtype)
        m.images(tag, 2, x, fmt)
        w.images[tag] = [(2, tbh.grid_hwc(tbh.to_uint8(x), fmt))]

    # --- audio: clipping, a [1, T] input that squeezes to mono, a second step
    a0 = rng.uniform(-1.5, 1.5, size=1000).astype(np.float32)
    a1 = (0.5 * np.sin(np.arange(800) / 5.0)).astype(np.float32).reshape(1, 800)
    m.audio("audio/clip", 0, a0, 16000)
    m.audio("audio/clip", 1, a1, 8000)
    w.audio["audio/clip"] = [(0, a0, 16000), (1, a1, 8000)]
    a2 = rng.uniform(-1, 1, size=333).astype(np.float32)
    m.audio("audio/default_rate", 0, a2, 44100)
    w.audio["audio/default_rate"] = [(0, a2, 44100)]

    # --- text (markdown, UTF-8, several lines)
    for step, text in [(0, "# Title\n\n*emphasis* and `code` — ünïcödé ✓"), (3, "second step\nline two")]:
        m.text("notes", step, text)
        w.texts.setdefault("notes", []).append((step, text))
    m.text("run/config", 1, "| a | b |\n|---|---|\n| 1 | 2 |")
    w.texts["run/config"] = [(1, "| a | b |\n|---|---|\n| 1 | 2 |")]

    # --- video: animated GIF; <= 256 colours per frame so the palette is exact
    v = _palette_video(rng, (3, 4, 3, 6, 5), colours=40)  # 3 clips -> padded to 4, 1 x 4 grid
    m.video("video/rgb_u8", 0, v, 4)
    w.videos["video/rgb_u8"] = [(0, tbh.video_frames(v), 4)]
    v = (rng.integers(0, 256, size=(1, 3, 1, 4, 4)) / 255.0).astype(np.float32)  # gray float
    m.video("video/gray_f32", 1, v, 10)
    w.videos["video/gray_f32"] = [(1, tbh.video_frames(v), 10)]
    v = _palette_video(rng, (4, 2, 3, 3, 2), colours=16)  # 4 clips: 2 x 2 grid
    m.video("video/grid4", 2, v, 2)
    w.videos["video/grid4"] = [(2, tbh.video_frames(v), 2)]

    tbh.run_tool(w.logdir, m.write())
    w.loaded = tbh.load_logdir(w.logdir)
    return w


# ----------------------------------------------------------------------------------------


def test_tensorboard_logged_no_complaint(written):
    """TensorBoard read every file without a warning, and without a DEBUG note about corrupt,
    truncated or CRC-failing records (which it otherwise swallows silently)."""
    records = written.loaded.log
    assert records, "the 'tensorboard' logger captured nothing: the capture is not working"
    assert any("Loading events from" in r.getMessage() for r in records)
    assert tbh.log_problems(records) == []


def test_log_check_catches_a_corrupt_file(written, tmp_path):
    """The log check above can fail: flip one byte inside the last record of a copy of the
    event file and TensorBoard's loader notes a CRC failure (at DEBUG level only)."""
    src = next(p for p in written.logdir.iterdir() if "tfevents" in p.name)
    bad = tmp_path / "bad" / "run"
    bad.mkdir(parents=True)
    data = bytearray(src.read_bytes())
    data[-10] ^= 0xFF  # inside the last record's data
    (bad / src.name).write_bytes(bytes(data))
    loaded = tbh.load_logdir(bad.parent)
    assert tbh.log_problems(loaded.log), "a corrupt record went unnoticed"


def test_runs_and_plugins(written):
    runs = written.loaded.runs()
    assert runs == {".", "compare_train", "compare_val", "group_sub_x"}
    active = set(written.loaded.multiplexer.ActivePlugins())
    assert {"scalars", "histograms", "images", "audio", "text"} <= active


def test_scalars(written):
    from tensorboard.plugins.scalar import metadata as scalar_metadata

    assert written.loaded.scalar_tags().get(".") == set(written.scalars)
    got = written.loaded.scalars(".")
    for tag, points in written.scalars.items():
        assert [s for s, _ in got[tag]] == [s for s, _ in points], tag
        # Stored as float32 simple_value: the exact float32 of the input.
        assert [v for _, v in got[tag]] == [float(np.float32(v)) for _, v in points], tag
        md = written.loaded.metadata(".", tag)
        assert md.plugin_data.plugin_name == "scalars"
        scalar_metadata.parse_plugin_metadata(md.plugin_data.content)


def test_add_scalars_child_runs(written):
    tags = written.loaded.scalar_tags()
    for main_tag, rows in written.scalars_groups.items():
        keys = rows[0][1].keys()
        for key in keys:
            run = f"{main_tag.replace('/', '_')}_{key}"
            assert tags.get(run) == {main_tag}, run
            got = written.loaded.scalars(run)[main_tag]
            want = [(step, float(np.float32(values[key]))) for step, values in rows]
            assert got == want, run
    # the main run does not get the grouped tags
    assert not set(written.scalars_groups) & tags["."]


def test_histograms(written):
    from tensorboard.plugins.histogram import metadata as histogram_metadata

    assert written.loaded.tensor_tags("histograms").get(".") == set(written.histograms)
    got = written.loaded.tensors("histograms")
    for tag, cases in written.histograms.items():
        assert [s for s, _ in got[tag]] == [s for s, _, _ in cases], tag
        for (step, arr), (_, values, edges) in zip(got[tag], cases):
            want = tbh.migrated_histogram(values, edges)
            assert arr.dtype == np.float32 and arr.ndim == 2 and arr.shape[1] == 3, (tag, arr.shape)
            np.testing.assert_array_equal(arr, want, err_msg=f"{tag} step {step}")
            inside = np.histogram(np.asarray(values, dtype=np.float64), bins=edges)[0].sum()
            assert arr[:, 2].sum() == inside, tag
        md = written.loaded.metadata(".", tag)
        assert md.plugin_data.plugin_name == "histograms"
        histogram_metadata.parse_plugin_metadata(md.plugin_data.content)


def test_histogram_raw_fields(written):
    """The legacy HistogramProto as written: stats of all values and right bucket limits."""
    raw = tbh.raw_values(written.logdir)
    for tag, cases in written.histograms.items():
        assert len(raw[tag]) == len(cases), tag
        for (step, value), (want_step, values, edges) in zip(raw[tag], cases):
            assert step == want_step
            h = value.histo
            # The stats cover every value, also those outside explicit edges.
            all_values = np.asarray(values, dtype=np.float64).reshape(-1)
            assert (h.min, h.max, h.num) == (all_values.min(), all_values.max(), all_values.size), tag
            # float64 sums in another order: within float64 rounding (see tbh.sum_tolerance)
            assert abs(h.sum - all_values.sum()) <= tbh.sum_tolerance(all_values, squares=False), tag
            assert abs(h.sum_squares - all_values.dot(all_values)) <= tbh.sum_tolerance(all_values, squares=True), tag
            assert len(h.bucket) == len(h.bucket_limit) and h.bucket[0] == 0, tag
            assert sum(h.bucket) == np.histogram(all_values, bins=edges)[0].sum(), tag


def _check_images(written, tags):
    from tensorboard.plugins.image import metadata as image_metadata

    got = written.loaded.blobs("images")
    for tag in tags:
        cases = written.images.get(tag) or written.videos.get(tag)
        assert [s for s, _ in got[tag]] == [c[0] for c in cases], tag
        md = written.loaded.metadata(".", tag)
        assert md.plugin_data.plugin_name == "images"
        image_metadata.parse_plugin_metadata(md.plugin_data.content)
        yield tag, got[tag], cases


def test_images(written):
    assert written.loaded.blob_tags("images").get(".") == set(written.images) | set(written.videos)
    for tag, got, cases in _check_images(written, written.images):
        for (step, blobs), (_, want) in zip(got, cases):
            assert len(blobs) == 3, tag  # [width, height, png]
            width, height, png = blobs
            assert (int(width), int(height)) == (want.shape[1], want.shape[0]), tag
            pixels = tbh.decode_png(png)
            assert tbh.png_mode(png) == {3: "RGB", 4: "RGBA"}[want.shape[2]], tag
            np.testing.assert_array_equal(pixels, want, err_msg=f"{tag} step {step}")


def test_video_gif_frames(written):
    for tag, got, cases in _check_images(written, written.videos):
        for (step, blobs), (_, frames, fps) in zip(got, cases):
            width, height, gif = blobs
            assert (int(width), int(height)) == (frames.shape[2], frames.shape[1]), tag
            decoded, durations, loop = tbh.decode_gif(gif)
            assert len(decoded) == frames.shape[0], tag
            for i, (d, want) in enumerate(zip(decoded, frames)):
                rgb = np.concatenate([want] * 3, axis=2) if want.shape[2] == 1 else want[..., :3]
                np.testing.assert_array_equal(d, rgb, err_msg=f"{tag} frame {i}")
            assert durations == [round(100 / fps) * 10] * len(decoded), tag
            assert loop == 0, tag  # loops forever


def test_audio(written):
    from tensorboard.plugins.audio import metadata as audio_metadata

    assert written.loaded.blob_tags("audio").get(".") == set(written.audio)
    got = written.loaded.blobs("audio")
    for tag, cases in written.audio.items():
        assert [s for s, _ in got[tag]] == [s for s, _, _ in cases], tag
        md = written.loaded.metadata(".", tag)
        assert md.plugin_data.plugin_name == "audio"
        assert audio_metadata.parse_plugin_metadata(md.plugin_data.content).encoding == (
            audio_metadata.Encoding.Value("WAV")
        )
        for (step, blobs), (_, samples, rate) in zip(got[tag], cases):
            assert len(blobs) == 1, tag  # one clip: the labels are projected out on load
            wav = tbh.decode_wav(blobs[0])
            assert (wav.channels, wav.sample_width, wav.frame_rate, wav.compression) == (1, 2, rate, "NONE")
            assert wav.frames == samples.size, tag
            np.testing.assert_array_equal(wav.samples, tbh.pcm16(samples), err_msg=f"{tag} step {step}")
            assert np.abs(wav.samples).max() <= 32767


def test_text(written):
    from tensorboard.plugins.text import metadata as text_metadata

    want_tags = {f"{t}/text_summary" for t in written.texts}
    assert written.loaded.tensor_tags("text").get(".") == want_tags
    got = written.loaded.tensors("text")
    for tag, cases in written.texts.items():
        series = got[f"{tag}/text_summary"]
        assert [s for s, _ in series] == [s for s, _ in cases], tag
        for (_, arr), (_, text) in zip(series, cases):
            assert arr.shape == (1,), tag
            assert arr[0].decode("utf-8") == text, tag
        md = written.loaded.metadata(".", f"{tag}/text_summary")
        assert md.plugin_data.plugin_name == "text"
        text_metadata.parse_plugin_metadata(md.plugin_data.content)


# ----------------------------------------------------------------------------------------
# The tool itself: bad input is reported with the line number and a non-zero exit.


def test_tool_reports_bad_manifest_line(manifest, tmp_path):
    manifest.scalar("ok", 0, 1.0)
    manifest.lines.append("scalar missing_value 3")
    proc = tbh.run_tool(tmp_path / "logs", manifest.write(), check=False)
    assert proc.returncode != 0
    assert "manifest.txt:2" in proc.stderr and "scalar" in proc.stderr


def test_tool_reports_sdk_rejection(manifest, tmp_path):
    manifest.scalar("ok", 0, 1.0)
    manifest.image("bad", 0, np.zeros((2, 4, 4), dtype=np.uint8), "CHW")  # 2 channels
    proc = tbh.run_tool(tmp_path / "logs", manifest.write(), check=False)
    assert proc.returncode != 0
    assert "manifest.txt:2" in proc.stderr and "channels" in proc.stderr
