"""`trainscope plugins`, `validate` and `run` with hostile libraries on the plugin path.

A directory given with --path (so searched before the bundled plugins) holds a truncated copy
of libtext.so (SIGBUS when mapped), a library whose entry point crashes (SIGSEGV) and a
world-writable copy of libscalars.so (which would shadow the bundled scalars). Each is refused
with its reason, the commands exit 0, and the bundled plugins of the same names are used.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import tb_helpers

CONFIG = """
[run]
name = "safety"
log_dir = "{log_dir}"
seed = 1
device = "cpu"

[trainer]
epochs = 1
batch_size = 16

[data]
dataset = "synthetic"
synthetic_samples = 32
synthetic_classes = 4

[model]
name = "simple_cnn"

[[plugin]]
name = "scalars"
log_every_n_steps = 1

[[plugin]]
name = "text"
"""


def build_dir() -> Path:
    return Path(os.environ.get("TRAINSCOPE_BUILD_DIR") or tb_helpers.REPO_ROOT / "build")


def cli() -> Path:
    exe = build_dir() / "core" / "trainscope"
    if not exe.is_file():
        pytest.fail(f"{exe} not found: build it first (ninja -C build trainscope)", pytrace=False)
    return exe


@pytest.fixture()
def hostile_dir(tmp_path: Path) -> Path:
    plugins = build_dir() / "plugins"
    crashing = build_dir() / "tests" / "plugins" / "hostile" / "libtest_crashing_entry.so"
    for f in (plugins / "libtext.so", plugins / "libscalars.so", crashing):
        if not f.is_file():
            pytest.fail(f"{f} not found: build it first (ninja -C build bundled_plugins test_plugins)", pytrace=False)
    d = tmp_path / "hostile"
    d.mkdir(mode=0o755)
    whole = (plugins / "libtext.so").read_bytes()
    (d / "libtext.so").write_bytes(whole[: len(whole) // 2])
    shutil.copy(crashing, d / "libtest_crashing_entry.so")
    shutil.copy(plugins / "libscalars.so", d / "libscalars.so")
    os.chmod(d / "libscalars.so", 0o666)
    return d


def refused_lines(stdout: str) -> dict[str, str]:
    """file name -> its line under "refused:"."""
    lines = stdout.split("\nrefused:\n", 1)[1].splitlines() if "\nrefused:\n" in stdout else []
    return {Path(line.strip().split(":", 1)[0]).name: line.strip() for line in lines if line.startswith("  /")}


def test_plugins_lists_each_hostile_library_as_refused(hostile_dir: Path):
    proc = subprocess.run([str(cli()), "plugins", "--path", str(hostile_dir)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    refused = refused_lines(proc.stdout)
    assert "cannot be loaded: truncated: segment" in refused.get("libtext.so", ""), proc.stdout
    assert "crashed with SIGSEGV" in refused.get("libtest_crashing_entry.so", ""), proc.stdout
    assert "in its entry point trainscope_plugin_descriptor()" in refused["libtest_crashing_entry.so"]
    assert "world-writable (mode 0666)" in refused.get("libscalars.so", ""), proc.stdout
    # The bundled plugins of those names are listed from the build's plugin directory.
    for name in ("scalars", "text"):
        assert f"file:  {build_dir() / 'plugins' / ('lib' + name + '.so')}" in proc.stdout, proc.stdout
    assert str(hostile_dir / "libscalars.so") not in proc.stdout.split("\nrefused:\n")[0]


def test_validate_and_run_use_the_good_libraries(hostile_dir: Path, tmp_path: Path):
    log_dir = tmp_path / "runs"
    cfg = tmp_path / "safety.toml"
    cfg.write_text(CONFIG.format(log_dir=log_dir))
    proc = subprocess.run([str(cli()), "validate", str(cfg), "--path", str(hostile_dir)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok (2 plugins: scalars, text)" in proc.stdout

    proc = subprocess.run([str(cli()), "run", str(cfg), "--path", str(hostile_dir)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list(log_dir.rglob("*tfevents*")), f"no event file under {log_dir}"


def test_validate_names_the_refusal_of_a_crashing_plugin(hostile_dir: Path, tmp_path: Path):
    cfg = tmp_path / "crash.toml"
    cfg.write_text('[[plugin]]\nname = "test_crashing_entry"\n')
    proc = subprocess.run([str(cli()), "validate", str(cfg), "--path", str(hostile_dir)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "unknown plugin 'test_crashing_entry'" in proc.stderr
    assert "a library for it was refused" in proc.stderr and "crashed with SIGSEGV" in proc.stderr, proc.stderr
