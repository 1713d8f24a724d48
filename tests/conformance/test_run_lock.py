"""Two `trainscope run` processes on one run directory: the second is refused (exit 1, a
message naming the directory, the first process's pid and the ways out) and writes nothing
there; once the first is gone (here: SIGKILL, which leaves no stale lock) a new run starts.
Before the lock both ran, overwrote each other's checkpoints, and TensorBoard purged the
first one's events (docs/reliability.md)."""

from __future__ import annotations

import signal
import subprocess

from test_kill_resume import cli, env, write_config


def test_a_second_process_on_a_run_directory_in_use_is_refused(tmp_path):
    cfg = write_config(tmp_path)
    run_dir = tmp_path / "logs" / "run"
    first = subprocess.Popen([str(cli()), "run", cfg.name, "--set", "trainer.epochs=1000", "--set",
                              "trainer.checkpoint_every_n_epochs=0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, env=env(), cwd=tmp_path)
    try:
        for line in first.stdout:  # training has begun: the lock is held
            if " step 1 " in line:
                break
        else:
            raise AssertionError("the first run ended before its first step")
        before = sorted(p.name for p in run_dir.iterdir())
        second = subprocess.run([str(cli()), "run", cfg.name], capture_output=True, text=True, timeout=120, env=env(),
                                cwd=tmp_path)
        assert second.returncode == 1, second.stdout + second.stderr
        assert (f"run directory 'logs/run' is in use by another trainscope process (pid {first.pid} on "
                in second.stderr), second.stderr
        assert "--set run.name=" in second.stderr and "wait until that process ends" in second.stderr
        assert sorted(p.name for p in run_dir.iterdir()) == before  # no event file, no checkpoint
        assert first.poll() is None  # the first run goes on
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
        first.stdout.close()
    # The killed run's events are still there: a new run moves them aside (docs/runs.md).
    third = subprocess.run([str(cli()), "run", cfg.name, "--set", "trainer.epochs=1", "--overwrite"],
                           capture_output=True, text=True, timeout=120, env=env(), cwd=tmp_path)
    assert third.returncode == 0, third.stdout + third.stderr
    assert [p.name for p in (tmp_path / "logs").iterdir() if p.name.startswith("run.old-")], third.stdout
