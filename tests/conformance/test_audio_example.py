"""examples/audio_tone (PyTorch's TensorBoard tutorial's audio): what it logs, loaded by
TensorBoard 2.21's own loaders and decoded with Python's `wave` module, is checked against
independent computations: the chord of its TOML file synthesized with numpy, PyTorch's PCM
conversion, the spectrum of the learned waveform, a target WAV file written by Python.

The binary is $TRAINSCOPE_BUILD_DIR/examples/audio_tone/audio_tone (CTest sets it; default build/).
"""

from __future__ import annotations

import io
import os
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

import tb_helpers

CONFIG = tb_helpers.REPO_ROOT / "examples" / "audio_tone" / "audio_tone.toml"
NOTES = [220.0, 277.18, 329.63]  # audio.notes_hz of the shipped TOML
RATE = 16000


def example() -> Path:
    build = Path(os.environ.get("TRAINSCOPE_BUILD_DIR") or tb_helpers.REPO_ROOT / "build")
    exe = build / "examples" / "audio_tone" / "audio_tone"
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        pytest.fail(f"{exe} not found: build it first (ninja -C {build} audio_tone)", pytrace=False)
    return exe


def run(*args, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(example()), *map(str, args)], capture_output=True, text=True, timeout=120)
    if ok and proc.returncode != 0:
        pytest.fail(f"audio_tone exited with {proc.returncode}:\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    return proc


def read_wav_file(data: bytes) -> tuple[tuple[int, int, int], np.ndarray]:
    """(channels, sample width, rate) and the 16-bit codes, by Python's wave module."""
    with wave.open(io.BytesIO(data), "rb") as w:
        params = (w.getnchannels(), w.getsampwidth(), w.getframerate())
        return params, np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int64)


def chord() -> np.ndarray:
    """The reference of the TOML file, from its documented definition: 0.8 / 3 per note, 10 ms
    linear fades in and out."""
    n = RATE
    i = np.arange(n)
    s = sum((0.8 / len(NOTES)) * np.sin(2 * np.pi * f * i / RATE) for f in NOTES)
    fade = RATE // 100
    return s * np.minimum(1.0, np.minimum(i / fade, (n - 1 - i) / fade))


def audio_values(run_dir: Path) -> dict:
    """tag -> [(step, Summary.Value.audio)] as written (before TensorBoard's migration)."""
    return {tag: [(step, v.audio) for step, v in values] for tag, values in tb_helpers.raw_values(run_dir).items()
            if values[0][1].HasField("audio")}  # fmt: skip


def test_audio_tone_logs_a_learned_chord_tensorboard_plays(tmp_path):
    run_dir = tmp_path / "tone"
    out = run("--config", CONFIG, "--log-dir", run_dir).stdout
    assert "strongest oscillators:" in out, out

    # The reference it wrote and learned from: the chord as 16-bit PCM (PyTorch's scaling, in
    # double), at most one code away from numpy's sines.
    (params, ref_codes) = read_wav_file((run_dir / "reference.wav").read_bytes())
    assert params == (1, 2, RATE)
    want = np.trunc(np.clip(chord(), -1, 1) * 32767)
    assert ref_codes.size == RATE and np.abs(ref_codes - want).max() <= 1

    # TensorBoard's audio dashboard: two tags, WAV encoded, 16 kHz, one second each.
    from tensorboard.plugins.audio import metadata as audio_metadata

    loaded = tb_helpers.load_logdir(run_dir)
    assert not tb_helpers.log_problems(loaded.log), tb_helpers.log_problems(loaded.log)
    assert loaded.blob_tags("audio") == {".": {"audio/target", "audio/generated"}}
    blobs = loaded.blobs("audio")
    assert [s for s, _ in blobs["audio/target"]] == [0]
    assert [s for s, _ in blobs["audio/generated"]] == list(range(11))  # untrained, then 10 epochs
    for tag in ("audio/target", "audio/generated"):
        md = loaded.metadata(".", tag)
        assert md.plugin_data.plugin_name == "audio"
        assert audio_metadata.parse_plugin_metadata(md.plugin_data.content).encoding == audio_metadata.Encoding.Value("WAV")
        for step, clip in blobs[tag]:
            assert len(clip) == 1
            wav = tb_helpers.decode_wav(clip[0])
            assert (wav.channels, wav.sample_width, wav.frame_rate, wav.frames) == (1, 2, RATE, RATE), (tag, step)
    # The Audio protos themselves carry the rate and the length.
    for tag, values in audio_values(run_dir).items():
        for step, a in values:
            assert (a.sample_rate, a.num_channels, a.length_frames, a.content_type) == (RATE, 1, RATE, "audio/wav")

    # The target clip is the reference as read by read_wav (code / 32768) in PyTorch's PCM.
    target = tb_helpers.decode_wav(blobs["audio/target"][0][1][0]).samples
    np.testing.assert_array_equal(target, tb_helpers.pcm16(ref_codes / np.float32(32768)))

    # It learned: the SNR climbs from below 5 dB past 18 dB (the fades, which no steady
    # oscillator follows, cap it near 20 dB) and the loss falls; the logged SNR of the last epoch
    # matches the decoded clips'; its spectrum peaks at the chord's three notes.
    scalars = loaded.scalars()
    snr = [v for _, v in scalars["quality/snr_db"]]
    loss = [v for _, v in scalars["loss/train"]]
    assert len(snr) == 11 and len(loss) == 10
    assert snr[0] < 5 and snr[-1] > 18 and snr[-1] > snr[1], snr
    assert loss[-1] < loss[0] / 20, loss
    last = tb_helpers.decode_wav(blobs["audio/generated"][-1][1][0]).samples.astype(np.float64)
    t = target.astype(np.float64)
    assert abs(10 * np.log10((t**2).sum() / ((t - last) ** 2).sum()) - snr[-1]) < 0.5
    spectrum = np.abs(np.fft.rfft(last))  # 1 Hz bins: one second at 16 kHz
    peaks = sorted(np.argsort(spectrum)[-3:])
    assert np.allclose(peaks, NOTES, atol=1), peaks

    # The chord emerges: the share of the energy within 2 Hz of its notes, from a few percent
    # in the untrained model's cluster of tones to nearly all of it (about 97%).
    def chord_share(samples: np.ndarray) -> float:
        power = np.abs(np.fft.rfft(samples.astype(np.float64))) ** 2
        near = np.zeros(power.size, dtype=bool)
        for f in NOTES:
            near[int(round(f)) - 2 : int(round(f)) + 3] = True
        return power[near].sum() / power.sum()

    first = tb_helpers.decode_wav(blobs["audio/generated"][0][1][0]).samples
    assert chord_share(first) < 0.3 and chord_share(last) > 0.95, (chord_share(first), chord_share(last))

    # generated.wav holds the last epoch's clip, byte for byte.
    assert (run_dir / "generated.wav").read_bytes() == blobs["audio/generated"][-1][1][0]


def test_audio_tone_learns_a_target_wav_file(tmp_path):
    # A 24-bit stereo file at 22.05 kHz, half a second: a 440 Hz tone left, 660 Hz right.
    rate, n = 22050, 11025
    i = np.arange(n)
    left, right = 0.5 * np.sin(2 * np.pi * 440 * i / rate), 0.5 * np.sin(2 * np.pi * 660 * i / rate)
    codes = np.round(np.stack([left, right], axis=1) * (1 << 23)).astype(np.int64).reshape(-1) & 0xFFFFFF
    raw = np.stack([codes & 0xFF, (codes >> 8) & 0xFF, (codes >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()
    target = tmp_path / "two tones.wav"
    with wave.open(str(target), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(3)
        w.setframerate(rate)
        w.writeframes(raw)

    run_dir = tmp_path / "run"
    out = run("--config", CONFIG, "--log-dir", run_dir, "--target", target, "--epochs", "3").stdout
    assert "22050 Hz, 2 channel(s) of 24-bit PCM, 0.50 s used" in out, out
    assert not (run_dir / "reference.wav").exists()
    loaded = tb_helpers.load_logdir(run_dir)
    blobs = loaded.blobs("audio")
    assert [s for s, _ in blobs["audio/generated"]] == [0, 1, 2, 3]
    for tag in ("audio/target", "audio/generated"):
        for _, clip in blobs[tag]:
            wav = tb_helpers.decode_wav(clip[0])
            assert (wav.channels, wav.frame_rate, wav.frames) == (1, rate, n), tag
    # The target clip is the mean of the two channels, as Python's wave module reads them.
    with wave.open(str(target), "rb") as w:
        b = np.frombuffer(w.readframes(n), dtype=np.uint8).reshape(-1, 3).astype(np.int64)
    v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
    v = np.where(v >= 1 << 23, v - (1 << 24), v).reshape(-1, 2) / float(1 << 23)
    got = tb_helpers.decode_wav(blobs["audio/target"][0][1][0]).samples
    assert np.abs(got - tb_helpers.pcm16(v.mean(axis=1))).max() <= 1


def test_audio_tone_refuses_bad_settings_and_files_by_name(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[audio]\nsample_rate = 16000\nnotes = [440.0]\n')
    proc = run("--config", cfg, "--log-dir", tmp_path / "a", ok=False)
    assert proc.returncode == 1
    assert f"{cfg}:3:1: audio.notes: unknown key (the keys of [audio] are sample_rate, seconds, notes_hz, target)" in (
        proc.stderr
    ), proc.stderr
    truncated = tmp_path / "cut.wav"
    with wave.open(str(truncated), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\1" * 1000)
    truncated.write_bytes(truncated.read_bytes()[:1000])
    proc = run("--config", CONFIG, "--log-dir", tmp_path / "c", "--target", truncated, ok=False)
    assert proc.returncode == 1
    assert f"audio_tone: {truncated}: truncated: the data chunk declares 2000 bytes but only 956 follow it" in (
        proc.stderr
    ), proc.stderr
