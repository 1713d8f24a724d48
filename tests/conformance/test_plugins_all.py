"""Every bundled plugin at once, through the real CLI, loaded by the real TensorBoard 2.21.0.

One run of `trainscope run` on a small synthetic problem with every plugin of plugins/ on
(each folder's conformance.toml is its [[plugin]] table for this run). TensorBoard's own
loader then has to read the logs without a complaint, and every plugin's expected_tags.txt
must be met. A line of expected_tags.txt is

    <kind> <pattern>

  kind: a TensorBoard plugin name whose listing must hold a tag matching the regular
        expression `pattern` (scalars, histograms, images, text, pr_curves, hparams,
        custom_scalars, ...), or
        `graph`  (pattern ignored): the run has a GraphDef TensorBoard can parse, or
        `file`   the run directory holds a file matching the glob `pattern`.
Blank lines and lines starting with # are skipped.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import tb_helpers

PLUGINS_DIR = tb_helpers.REPO_ROOT / "plugins"
RUN = "all"

BASE = """
[run]
name = "all"
log_dir = "{log_dir}"
seed = 1
device = "cpu"

[trainer]
epochs = 2
batch_size = 32
optimizer = "adam"
lr = 0.003
scheduler = "cosine"
log_every_n_steps = 4
checkpoint_every_n_epochs = 1

[data]
dataset = "synthetic"
synthetic_samples = 256
synthetic_classes = 10

[model]
name = "simple_cnn"

[hparams]
dataset = "synthetic"
dropout = 0.0
"""


def plugin_folders() -> list[Path]:
    """Every plugin folder; TRAINSCOPE_PLUGINS_ONLY="a,b" narrows it (while developing one)."""
    only = {s.strip() for s in os.environ.get("TRAINSCOPE_PLUGINS_ONLY", "").split(",") if s.strip()}
    return sorted(
        p for p in PLUGINS_DIR.iterdir() if (p / "CMakeLists.txt").is_file() and (not only or p.name in only)
    )


def cli() -> Path:
    build = Path(os.environ.get("TRAINSCOPE_BUILD_DIR", tb_helpers.REPO_ROOT / "build"))
    exe = build / "core" / "trainscope"
    if not exe.is_file():
        pytest.fail(f"{exe} not found: build the project first (ninja -C build)", pytrace=False)
    return exe


def expectations(folder: Path) -> list[tuple[str, str]]:
    path = folder / "expected_tags.txt"
    assert path.is_file(), f"{path} is missing: every plugin lists the tags it writes"
    return tb_helpers.parse_expected_tags(path)


@pytest.fixture(scope="module")
def all_plugins_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugins_all")
    log_dir = root / "runs"
    config = BASE.format(log_dir=log_dir)
    for folder in plugin_folders():
        snippet = folder / "conformance.toml"
        assert snippet.is_file(), f"{snippet} is missing: the plugin's table for this run"
        config += f"\n# ---- {folder.name}\n" + snippet.read_text()
    cfg = root / "all.toml"
    cfg.write_text(config)
    proc = subprocess.run([str(cli()), "run", str(cfg)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"trainscope run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    assert "was disabled" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return log_dir, tb_helpers.load_logdir(log_dir), proc


def test_every_plugin_folder_is_complete():
    folders = plugin_folders()
    assert folders, "no plugin folders"
    for folder in folders:
        for name in ("README.md", "expected_tags.txt", "conformance.toml", f"{folder.name}.cpp"):
            assert (folder / name).is_file(), f"{folder / name} is missing"
        assert list(folder.glob("*_test.cpp")), f"{folder} has no test"


def test_cli_loaded_every_plugin(all_plugins_run):
    _, _, proc = all_plugins_run
    line = next((ln for ln in proc.stdout.splitlines() if ln.strip().startswith("plugins:")), "")
    loaded = {p.strip() for p in line.split(":", 1)[1].split(",")} if line else set()
    assert {f.name for f in plugin_folders()} <= loaded, proc.stdout


def test_tensorboard_loads_without_complaint(all_plugins_run):
    _, loaded, _ = all_plugins_run
    assert RUN in loaded.runs(), loaded.runs()
    assert not tb_helpers.log_problems(loaded.log), tb_helpers.log_problems(loaded.log)


@pytest.mark.parametrize("folder", plugin_folders(), ids=lambda p: p.name)
def test_plugin_tags(all_plugins_run, folder):
    log_dir, loaded, _ = all_plugins_run
    missing = tb_helpers.unmet_expectations(loaded, RUN, log_dir / RUN, expectations(folder))
    assert not missing, f"{folder.name}: " + "\n".join(missing)
