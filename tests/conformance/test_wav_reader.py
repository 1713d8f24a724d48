"""trainscope::read_wav (sdk/events/include/trainscope/wav_reader.h) through tests/tools/read_wav:
files written by Python's `wave` module (integer PCM of 8, 16, 24 and 32 bits, one to three
channels) and by hand with `struct` (32-bit float, WAVE_FORMAT_EXTENSIBLE, extra chunks) decode
to what Python's `wave` and numpy read from the same files; malformed files are refused with a
message that names the file and what is wrong."""

from __future__ import annotations

import os
import struct
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

import tb_helpers


def _tool() -> Path:
    tools_dir = os.environ.get("TRAINSCOPE_TOOLS_DIR")
    exe = (Path(tools_dir) if tools_dir else tb_helpers.REPO_ROOT / "build" / "tests") / "read_wav"
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        pytest.fail(f"{exe} not found: build it first (ninja -C build read_wav)", pytrace=False)
    return exe


def read_cpp(jobs: list[tuple[Path, str]]) -> list[tuple[dict, np.ndarray] | str]:
    """Reads every (file, option) with one run of the tool (option "", "mono" or "channel=N"):
    per job, the header fields and samples, or the reader's error message."""
    assert jobs
    folder = jobs[0][0].parent
    manifest = folder / "manifest.tsv"
    outs = [folder / f"out{i}.f32" for i in range(len(jobs))]
    manifest.write_text("".join(f"{p}\t{o}" + (f"\t{opt}" if opt else "") + "\n" for (p, opt), o in zip(jobs, outs)))
    proc = subprocess.run([str(_tool()), str(manifest)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"read_wav exited with {proc.returncode}: {proc.stderr}"
    lines = proc.stdout.splitlines()
    assert len(lines) == len(jobs), proc.stdout
    results = []
    for line, out in zip(lines, outs):
        status, rest = line.split(" ", 1)
        if status == "ok":
            results.append((dict(item.split("=") for item in rest.split()), np.fromfile(out, dtype="<f4")))
        else:
            assert status == "error", line
            results.append(rest)
    return results


# ----------------------------------------------------------------------------------------
# References: what Python's wave module and numpy make of a file


def python_frames(path: Path) -> tuple[wave.Wave_read, np.ndarray]:
    """The file's parameters and its samples scaled to floats, from Python's `wave` module:
    code v of b bits -> v / 2^(b-1); 8-bit codes are unsigned, offset 128."""
    with wave.open(str(path), "rb") as w:
        params = w.getparams()
        raw = w.readframes(w.getnframes())
    width = params.sampwidth
    if width == 1:
        codes = np.frombuffer(raw, dtype=np.uint8).astype(np.int64) - 128
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int64)
        codes = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        codes = np.where(codes >= 1 << 23, codes - (1 << 24), codes)
    else:
        codes = np.frombuffer(raw, dtype={2: "<i2", 4: "<i4"}[width]).astype(np.int64)
    return params, (codes.astype(np.float64) / float(1 << (8 * width - 1))).astype(np.float32)


def write_python(path: Path, width: int, channels: int, rate: int, frames: int, seed: int) -> None:
    """Random codes over the whole range of the width, extremes included."""
    rng = np.random.default_rng(seed)
    lo, hi = (0, 255) if width == 1 else (-(1 << (8 * width - 1)), (1 << (8 * width - 1)) - 1)
    codes = rng.integers(lo, hi, size=frames * channels, endpoint=True, dtype=np.int64)
    if codes.size >= 2:
        codes[:2] = [lo, hi]
    if width == 1:
        raw = codes.astype(np.uint8).tobytes()
    elif width == 3:
        u = codes & 0xFFFFFF
        raw = np.stack([u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()
    else:
        raw = codes.astype({2: "<i2", 4: "<i4"}[width]).tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)


def chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt_plain(tag: int, channels: int, rate: int, bits: int) -> bytes:
    align = channels * bits // 8
    return chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits))


def fmt_extensible(sub_tag: int, channels: int, rate: int, bits: int) -> bytes:
    align = channels * bits // 8
    guid = struct.pack("<H", sub_tag) + bytes.fromhex("0000000010008000" "00aa00389b71")
    assert len(guid) == 16
    body = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * align, align, bits, 22, bits, 3) + guid
    return chunk(b"fmt ", body)


# ----------------------------------------------------------------------------------------
# Files Python's wave module writes

PCM_CASES = [(1, 1, 8000, 997), (2, 2, 44100, 1500), (3, 3, 48000, 640), (4, 1, 22050, 1001), (2, 1, 16000, 0)]


def test_pcm_written_by_python_wave(tmp_path):
    paths = []
    for width, channels, rate, frames in PCM_CASES:
        path = tmp_path / f"pcm{8 * width}_{channels}ch_{frames}.wav"
        write_python(path, width, channels, rate, frames, seed=width * 10 + channels)
        paths.append(path)
    results = read_cpp([(p, "") for p in paths])
    for (width, channels, rate, frames), path, result in zip(PCM_CASES, paths, results):
        params, want = python_frames(path)
        assert (params.sampwidth, params.nchannels, params.framerate, params.nframes) == (width, channels, rate, frames)
        assert not isinstance(result, str), f"{path.name}: {result}"
        header, got = result
        assert header == {
            "rate": str(rate),
            "channels": str(channels),
            "bits": str(8 * width),
            "encoding": "int",
            "frames": str(frames),
        }, path.name
        np.testing.assert_array_equal(got, want, err_msg=path.name)  # exact: every code is a dyadic fraction
        if frames:
            # [-1, 1): the top code is 1 - 2^(1-b), which rounds to 1.0 in float32 only for 32 bits.
            assert got.min() == -1.0 and (got.max() < 1.0 if width < 4 else got.max() == 1.0), path.name


def test_channels_and_mono_mix(tmp_path):
    path = tmp_path / "stereo.wav"
    write_python(path, 2, 2, 16000, 800, seed=7)
    _, want = python_frames(path)
    frames = want.reshape(-1, 2)
    (_, left), (_, right), (_, mono) = read_cpp([(path, "channel=0"), (path, "channel=1"), (path, "mono")])
    np.testing.assert_array_equal(left, frames[:, 0])
    np.testing.assert_array_equal(right, frames[:, 1])
    np.testing.assert_allclose(mono, frames.astype(np.float64).mean(axis=1), rtol=0, atol=1e-7)


# ----------------------------------------------------------------------------------------
# Files built by hand: float samples, the extensible layout, chunks to skip, chunk order


def test_hand_built_files(tmp_path):
    rng = np.random.default_rng(3)
    cases = []  # (path, header, samples)

    # 32-bit float, stereo, between chunks to skip (two of odd size, with their pad byte).
    samples = rng.uniform(-1.5, 1.5, size=(333, 2)).astype("<f4")  # float WAVs may exceed [-1, 1]
    path = tmp_path / "float.wav"
    path.write_bytes(
        riff(
            chunk(b"JUNK", b"\0" * 3),
            fmt_plain(3, 2, 32000, 32),
            chunk(b"fact", struct.pack("<I", 333)),
            chunk(b"LIST", b"INFOISFT\x05\0\0\0tone\0"),
            chunk(b"data", samples.tobytes()),
            chunk(b"cue ", b"\0" * 4),
        )
    )
    cases.append((path, {"rate": "32000", "channels": "2", "bits": "32", "encoding": "float", "frames": "333"}, samples))

    # WAVE_FORMAT_EXTENSIBLE: integer PCM of 24 and 16 bits, float, stereo at 96 kHz.
    for sub_tag, bits in [(1, 24), (3, 32), (1, 16)]:
        if sub_tag == 3:
            want = rng.uniform(-1, 1, size=600).astype("<f4")
            raw = want.tobytes()
        else:
            codes = rng.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1, size=600, endpoint=True)
            if bits == 24:
                u = codes & 0xFFFFFF
                raw = np.stack([u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()
            else:
                raw = codes.astype("<i2").tobytes()
            want = (codes / float(1 << (bits - 1))).astype(np.float32)
        path = tmp_path / f"extensible_{sub_tag}_{bits}.wav"
        path.write_bytes(riff(fmt_extensible(sub_tag, 2, 96000, bits), chunk(b"data", raw)))
        encoding = "float" if sub_tag == 3 else "int"
        cases.append((path, {"rate": "96000", "channels": "2", "bits": str(bits), "encoding": encoding, "frames": "300"}, want))

    # The data chunk before the fmt chunk, and bytes after the RIFF size that are no chunk.
    codes = np.arange(-50, 50, dtype="<i2") * 300
    path = tmp_path / "order.wav"
    path.write_bytes(riff(chunk(b"data", codes.tobytes()), fmt_plain(1, 1, 11025, 16)) + b"trailing bytes, no chunk")
    cases.append((path, {"rate": "11025", "channels": "1", "bits": "16", "encoding": "int", "frames": "100"},
                  codes / np.float32(32768)))  # fmt: skip

    for (path, header, want), result in zip(cases, read_cpp([(c[0], "") for c in cases])):
        assert not isinstance(result, str), f"{path.name}: {result}"
        assert result[0] == header, path.name
        np.testing.assert_array_equal(result[1], np.asarray(want, dtype=np.float32).reshape(-1), err_msg=path.name)


# ----------------------------------------------------------------------------------------
# Malformed or unsupported files


def test_malformed_files_are_refused_naming_the_file_and_the_fault(tmp_path):
    good = tmp_path / "good.wav"
    write_python(good, 2, 1, 8000, 400, seed=1)
    data = good.read_bytes()
    assert data[36:40] == b"data"  # Python's 44-byte header: the data chunk starts at 36

    cases = {
        "truncated_data": (data[:300], "truncated: the data chunk declares 800 bytes but only 256 follow it"),
        "truncated_header": (data[:10], "truncated: 10 bytes, shorter than the 12-byte RIFF header"),
        "cut_chunk_header": (data[:40], "truncated: a chunk header at offset 36 is cut short (4 of 8 bytes)"),
        "cut_fmt": (data[:30], "truncated: the fmt chunk declares 16 bytes but only 10 follow it"),
        "png": (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not a WAV file: it starts with '\\x89PNG', not 'RIFF'"),
        "avi": (b"RIFF" + struct.pack("<I", 4) + b"AVI ", "not a WAV file: a RIFF file of type 'AVI ', not 'WAVE'"),
        "rifx": (b"RIFX" + data[4:], "big-endian RIFX files are not supported"),
        "no_fmt": (riff(chunk(b"data", b"\0" * 8)), "no fmt chunk"),
        "no_data": (riff(fmt_plain(1, 1, 8000, 16), chunk(b"LIST", b"INFO")), "no data chunk"),
        "alaw": (riff(fmt_plain(6, 1, 8000, 8), chunk(b"data", b"\0" * 8)), "A-law samples are not supported"),
        "pcm12": (
            riff(chunk(b"fmt ", struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 12)), chunk(b"data", b"\0" * 8)),
            "12-bit integer PCM samples are not supported",
        ),
        "float64": (
            riff(fmt_plain(3, 1, 8000, 64), chunk(b"data", b"\0" * 16)),
            "64-bit IEEE float samples are not supported",
        ),
        "bad_align": (
            riff(chunk(b"fmt ", struct.pack("<HHIIHH", 1, 2, 8000, 32000, 2, 16)), chunk(b"data", b"\0" * 8)),
            "block align is 2 bytes, but 2 channel(s) of 16 bits make 4-byte frames",
        ),
        "zero_channels": (
            riff(chunk(b"fmt ", struct.pack("<HHIIHH", 1, 0, 8000, 0, 0, 16)), chunk(b"data", b"")),
            "the fmt chunk says 0 channels",
        ),
        "short_fmt": (riff(chunk(b"fmt ", b"\1\0\1\0"), chunk(b"data", b"")), "the fmt chunk has 4 bytes"),
        "partial_frame": (
            riff(fmt_plain(1, 2, 8000, 16), chunk(b"data", b"\0" * 6)),
            "not a whole number of 4-byte frames",
        ),
        "unknown_guid": (
            riff(fmt_extensible(1, 1, 8000, 16)[:-1] + b"\x01", chunk(b"data", b"\0" * 4)),
            "sub-format GUID that is not a WAVE format code",
        ),
    }
    jobs = []
    for name, (content, _) in cases.items():
        path = tmp_path / f"{name}.wav"
        path.write_bytes(content)
        jobs.append((path, ""))
    (tmp_path / "dir.wav").mkdir()
    jobs += [(tmp_path / "missing.wav", ""), (tmp_path / "dir.wav", "")]
    expected = [e for _, e in cases.values()] + ["cannot open: No such file or directory", "cannot read: Is a directory"]
    messages = read_cpp(jobs)
    for (path, _), want, message in zip(jobs, expected, messages):
        assert isinstance(message, str), f"{path.name} was accepted: {message[0]}"
        assert message.startswith(f"{path}: "), message  # the message names the file
        assert want in message, f"{path.name}: {message}"
    # Unsupported encodings say what is supported and how to convert.
    alaw = messages[list(cases).index("alaw")]
    assert "this reader decodes integer PCM of 8, 16, 24 or 32 bits and 32-bit IEEE float (convert the file" in alaw
