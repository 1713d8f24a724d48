"""Learning-rate schedules ([trainer.scheduler]) against torch.optim.lr_scheduler.

For each schedule, the lr of every optimizer step is printed by tests/tools/lr_schedule_tool
(which drives the C++ scheduler as the Trainer does) and computed by PyTorch's own schedulers
driven the usual way: the lr of a step is the optimizer's lr when optimizer.step() runs, and
scheduler.step() follows every optimizer step (interval "step") or every epoch (interval
"epoch"; ReduceLROnPlateau gets that epoch's metric). Warm-ups are LinearLR chained by
SequentialLR. The two must agree to float precision at every step.

Then one real `trainscope run` per interval checks that the scalars plugin's lr/group0, read
back with TensorBoard's loader, is the lr PyTorch's scheduler gives for that step (plateau
fed the val/loss the run itself logged, across a resume from a checkpoint).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
from pathlib import Path

import pytest

import tb_helpers

torch = pytest.importorskip("torch")
lr_scheduler = torch.optim.lr_scheduler

REL = 1e-12  # the C++ side computes in closed form, PyTorch mostly recursively: they differ by ~1e-15


def tool() -> Path:
    base = Path(os.environ.get("TRAINSCOPE_TOOLS_DIR", tb_helpers.REPO_ROOT / "build" / "tests"))
    exe = base / "lr_schedule_tool"
    if not exe.is_file():
        pytest.fail(f"{exe} not found: build it (ninja -C build lr_schedule_tool)", pytrace=False)
    return exe


# Every case the tool computes, run in one process (libtorch takes seconds to load):
# name -> (trainer TOML, batches per epoch, metrics, group lrs, resume after epoch).
CASES: dict[str, tuple] = {}


def case(name: str, toml: str, batches: int, metrics=(), groups=(), resume_at=None) -> str:
    CASES[name] = (toml, batches, metrics, groups, resume_at)
    return name


@pytest.fixture(scope="module")
def computed(tmp_path_factory) -> dict[str, tuple[str, object]]:
    """name -> ("ok", [[lr per group] per step]) or ("error", problems text)."""
    root = tmp_path_factory.mktemp("schedules")
    lines = []
    for i, (name, (toml, batches, metrics, groups, resume_at)) in enumerate(CASES.items()):
        cfg = root / f"case{i}" / "schedule.toml"
        cfg.parent.mkdir()
        cfg.write_text(toml)
        lines.append(
            f"{cfg} {batches} {','.join(map(repr, metrics)) or '-'} {','.join(map(repr, groups)) or '-'} "
            f"{'-' if resume_at is None else resume_at}"
        )
    cases_file = root / "cases.txt"
    cases_file.write_text("\n".join(lines) + "\n")
    proc = subprocess.run([str(tool()), str(cases_file)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    names = list(CASES)
    out: dict[str, tuple[str, object]] = {}
    current = None
    for line in proc.stdout.splitlines():
        if line.startswith("case "):
            _, n, kind = line.split()
            current = names[int(n)]
            out[current] = (kind, [] if kind == "ok" else "")
        elif out[current][0] == "ok":
            out[current][1].append([float(x) for x in line.split()[1:]])
        else:
            out[current] = ("error", out[current][1] + line + "\n")
    assert list(out) == names
    return out


def ours(computed, name: str) -> list[list[float]]:
    kind, value = computed[name]
    assert kind == "ok", value
    return value


def refused(computed, name: str) -> str:
    kind, value = computed[name]
    assert kind == "error", f"{name} was accepted"
    return value


def theirs(make, epochs: int, batches: int, per_step: bool, lrs=(0.1,), metrics=()) -> list[list[float]]:
    """The lr of every optimizer step with PyTorch's scheduler `make(optimizer)`."""
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=lrs[0])
    sched = make(opt)
    out = []
    for epoch in range(epochs):
        for _ in range(batches):
            out.append([g["lr"] for g in opt.param_groups])
            opt.step()
            if per_step:
                sched.step()
        if not per_step:
            if isinstance(sched, lr_scheduler.ReduceLROnPlateau):
                sched.step(metrics[epoch])
            else:
                sched.step()
    return out


def assert_same(a: list[list[float]], b: list[list[float]]) -> float:
    assert len(a) == len(b), (len(a), len(b))
    worst = 0.0
    for step, (x, y) in enumerate(zip(a, b), start=1):
        assert len(x) == len(y)
        for u, v in zip(x, y):
            assert math.isclose(u, v, rel_tol=REL, abs_tol=1e-15), f"step {step}: ours {u!r}, torch {v!r}"
            worst = max(worst, abs(u - v) / max(abs(v), 1e-300))
    return worst


def trainer(epochs: int, table: str, lr: float = 0.1, scheduler_line: str = "") -> str:
    text = f"[trainer]\nepochs = {epochs}\nlr = {lr}\n{scheduler_line}\n"
    if table:
        text += "[trainer.scheduler]\n" + table
    return text


def warm(opt, start, iters, main):
    warmup = lr_scheduler.LinearLR(opt, start_factor=start, end_factor=1.0, total_iters=iters)
    return lr_scheduler.SequentialLR(opt, [warmup, main(opt)], milestones=[iters])


E, B = 6, 5  # epochs, batches per epoch
SCHEDULES = {
    "step_per_epoch": (
        'name = "step"\nstep_size = 2\ngamma = 0.5\n',
        lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
        False,
    ),
    "step_per_step_with_warmup": (
        'name = "step"\ninterval = "step"\nstep_size = 4\ngamma = 0.7\nwarmup = 3\nwarmup_start_factor = 0.25\n',
        lambda o: warm(o, 0.25, 3, lambda o: lr_scheduler.StepLR(o, step_size=4, gamma=0.7)),
        True,
    ),
    "exponential_per_step": (
        'name = "exponential"\ninterval = "step"\ngamma = 0.93\n',
        lambda o: lr_scheduler.ExponentialLR(o, gamma=0.93),
        True,
    ),
    "cosine_per_step_tmax_etamin_warmup": (
        'name = "cosine"\ninterval = "step"\nt_max = 20\neta_min = 0.001\nwarmup = 5\nwarmup_start_factor = 0.1\n',
        lambda o: warm(o, 0.1, 5, lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=20, eta_min=0.001)),
        True,
    ),
    "cosine_per_epoch_rest_of_run_after_warmup": (
        'name = "cosine"\nwarmup = 2\n',
        lambda o: warm(o, 1.0 / 3.0, 2, lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=E - 2)),
        False,
    ),
    "cosine_past_t_max": (
        'name = "cosine"\ninterval = "step"\nt_max = 7\neta_min = 0.01\n',
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
        True,
    ),
    "warmup_alone": (
        'interval = "step"\nwarmup = 8\nwarmup_start_factor = 0.05\n',
        lambda o: lr_scheduler.LinearLR(o, start_factor=0.05, total_iters=8),
        True,
    ),
    "one_cycle_cos": (
        'name = "one_cycle"\ninterval = "step"\nmax_lr = 0.4\n',
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.4, epochs=E, steps_per_epoch=B, cycle_momentum=False),
        True,
    ),
    "one_cycle_linear_three_phase": (
        'name = "one_cycle"\ninterval = "step"\nmax_lr = 0.3\npct_start = 0.2\nanneal = "linear"\n'
        "div_factor = 10.0\nfinal_div_factor = 100.0\nthree_phase = true\n",
        lambda o: lr_scheduler.OneCycleLR(
            o,
            max_lr=0.3,
            total_steps=E * B,
            pct_start=0.2,
            anneal_strategy="linear",
            div_factor=10.0,
            final_div_factor=100.0,
            three_phase=True,
            cycle_momentum=False,
        ),
        True,
    ),
    "one_cycle_per_epoch_base_lr_as_max": (
        'name = "one_cycle"\npct_start = 0.4\n',
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=E, pct_start=0.4, cycle_momentum=False),
        False,
    ),
}


for _name, (_table, _make, _per_step) in SCHEDULES.items():
    case(_name, trainer(E, _table), B)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_equals_torch(computed, name):
    _, make, per_step = SCHEDULES[name]
    a = ours(computed, name)
    b = theirs(make, E, B, per_step)
    assert_same(a, b)
    assert len({round(x[0], 12) for x in a}) > 2, "the schedule should move the lr"


STRING_FORM = case("string_form", trainer(E, "", scheduler_line='scheduler = "cosine"'), B)
TWO_GROUPS = case(
    "two_groups",
    trainer(E, 'name = "cosine"\ninterval = "step"\nwarmup = 4\nwarmup_start_factor = 0.5\nt_max = 12\neta_min = 0.0005\n'),
    B,
    groups=(0.1, 0.02),
)


def test_string_form_is_the_old_cosine(computed):
    a = ours(computed, STRING_FORM)
    assert_same(a, theirs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=E), E, B, False))


def test_two_param_groups(computed):
    a = ours(computed, TWO_GROUPS)
    make = lambda o: warm(o, 0.5, 4, lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=12, eta_min=0.0005))
    assert_same(a, theirs(make, E, B, True, lrs=(0.1, 0.02)))


PLATEAU_METRICS = [1.0, 0.9, 0.9, 0.95, 0.91, 0.91, 0.7, 0.7, 0.71, 0.72, 0.72, 0.73]


PLATEAUS = [
        ('name = "plateau"\npatience = 1\nfactor = 0.5\n', dict(patience=1, factor=0.5)),
        (
            'name = "plateau"\nmode = "max"\npatience = 0\ncooldown = 2\nthreshold = 0.01\nthreshold_mode = "abs"\n'
            "factor = 0.3\nmin_lr = 0.005\n",
            dict(mode="max", patience=0, cooldown=2, threshold=0.01, threshold_mode="abs", factor=0.3, min_lr=0.005),
        ),
        (
            'name = "plateau"\nmetric = "val/accuracy"\npatience = 2\ncooldown = 1\nthreshold = 0.02\n',
            dict(patience=2, cooldown=1, threshold=0.02),
        ),
    ]
PLATEAU_IDS = ["min_rel", "max_abs_cooldown_min_lr", "min_rel_cooldown"]
for _id, (_table, _kwargs) in zip(PLATEAU_IDS, PLATEAUS):
    for _resume in (None, 4):
        case(f"plateau_{_id}_{_resume}", trainer(len(PLATEAU_METRICS), _table), 2, metrics=PLATEAU_METRICS, resume_at=_resume)


@pytest.mark.parametrize("index", range(len(PLATEAUS)), ids=PLATEAU_IDS)
@pytest.mark.parametrize("resume_at", [None, 4], ids=["straight", "state_round_trip"])
def test_plateau_equals_torch(computed, index, resume_at):
    epochs = len(PLATEAU_METRICS)
    kwargs = PLATEAUS[index][1]
    a = ours(computed, f"plateau_{PLATEAU_IDS[index]}_{resume_at}")
    b = theirs(lambda o: lr_scheduler.ReduceLROnPlateau(o, **kwargs), epochs, 2, False, metrics=PLATEAU_METRICS)
    assert_same(a, b)
    assert len({x[0] for x in a}) > 1, "the metric sequence should reduce the lr at least once"


REFUSALS = [
        ('name = "cosin"\n', r'schedule\.toml:6:8: trainer\.scheduler\.name = "cosin" is not known.*did you mean .cosine.'),
        ('name = "step"\nt_max = 3\n', r"schedule\.toml:7:9: trainer\.scheduler\.t_max is an option of cosine"),
        ('name = "one_cycle"\npct_start = 1.5\n', r"schedule\.toml:7:13: trainer\.scheduler\.pct_start must be in \(0, 1\)"),
        ('name = "plateau"\ninterval = "step"\n', r'schedule\.toml:7:12: trainer\.scheduler\.interval = "step": plateau is stepped'),
        ('name = "plateau"\nfactor = 1.0\n', r"schedule\.toml:7:10: trainer\.scheduler\.factor must be in \[0, 1\)"),
        ('name = "one_cycle"\nwarmup = 3\n', r"schedule\.toml:7:10: trainer\.scheduler\.warmup = 3: one_cycle warms up by itself"),
        ('name = "cosine"\nwarmpu = 3\n', r"schedule\.toml:7:1: unknown key 'warmpu' in \[trainer\.scheduler\]; did you mean 'warmup'"),
        ('name = "cosine"\nanneal = "cos"\n', r"trainer\.scheduler\.anneal is an option of one_cycle"),
    ]
for _i, (_table, _expected) in enumerate(REFUSALS):
    case(f"refusal_{_i}", trainer(3, _table), 1)


@pytest.mark.parametrize("index", range(len(REFUSALS)))
def test_bad_values_are_refused_with_their_position(computed, index):
    err = refused(computed, f"refusal_{index}")
    assert re.search(REFUSALS[index][1], err), err


MISSING_METRIC = case("plateau_missing_metric", trainer(3, 'name = "plateau"\nmetric = "val/acc"\n'), 2)


def test_plateau_on_a_metric_the_run_lacks_names_the_metrics_it_has(computed):
    kind, value = computed[MISSING_METRIC]
    assert kind == "error"
    assert '[trainer.scheduler] metric = "val/acc" is not a metric of this run (at the end of epoch 0' in value, value


# ---- the real trainer, its scalars plugin and TensorBoard ------------------------------------

RUN_TOML = """
[run]
name = "sched"
log_dir = "{log_dir}"
seed = 3
device = "cpu"

[trainer]
epochs = {epochs}
batch_size = 16
optimizer = "sgd"
lr = 0.05
checkpoint_every_n_epochs = 1
resume = "auto"

[trainer.scheduler]
{table}

[data]
dataset = "synthetic"
synthetic_samples = 64
synthetic_classes = 4

[model]
name = "mlp"

[[plugin]]
name = "scalars"
perf = false
custom_scalars = false
"""


def cli() -> Path:
    build = Path(os.environ.get("TRAINSCOPE_BUILD_DIR", tb_helpers.REPO_ROOT / "build"))
    exe = build / "core" / "trainscope"
    if not exe.is_file():
        pytest.fail(f"{exe} not found: build the project first (ninja -C build trainscope scalars)", pytrace=False)
    return exe


def train(tmp_path: Path, table: str, epochs: int) -> tb_helpers.Loaded:
    log_dir = tmp_path / "runs"
    cfg = tmp_path / "run.toml"
    cfg.write_text(RUN_TOML.format(log_dir=log_dir, epochs=epochs, table=table))
    proc = subprocess.run([str(cli()), "run", str(cfg)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return log_dir


def logged(log_dir: Path, tag: str) -> list[tuple[int, float]]:
    loaded = tb_helpers.load_logdir(log_dir)
    data = loaded.provider.read_scalars(
        loaded.ctx, experiment_id=tb_helpers.EXPERIMENT, plugin_name="scalars", downsample=tb_helpers.ALL
    )
    return [(d.step, d.value) for d in data["sched"][tag]]


def test_trainer_logs_the_lr_of_each_step_one_cycle(tmp_path):
    table = 'name = "one_cycle"\ninterval = "step"\nmax_lr = 0.2\npct_start = 0.25'
    log_dir = train(tmp_path, table, epochs=3)
    lr = logged(log_dir, "lr/group0")
    assert [s for s, _ in lr] == list(range(1, 13))  # 64 samples / 16 = 4 steps per epoch
    expected = theirs(
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.2, total_steps=12, pct_start=0.25, cycle_momentum=False),
        3, 4, True, lrs=(0.05,),
    )
    for (step, value), (want,) in zip(lr, expected):
        assert math.isclose(value, want, rel_tol=1e-6), (step, value, want)  # TensorBoard stores float32


def test_trainer_plateau_on_logged_val_loss_across_a_resume(tmp_path):
    table = 'name = "plateau"\npatience = 0\nfactor = 0.5\nthreshold = 0.5'  # every epoch is a plateau but the 1st
    train(tmp_path, table, epochs=2)
    log_dir = train(tmp_path, table, epochs=5)  # resumes from epoch 2's checkpoint (plateau counters included)
    lr = logged(log_dir, "lr/group0")
    val = [v for _, v in logged(log_dir, "val/loss")]
    assert len(val) == 5 and [s for s, _ in lr] == list(range(1, 21))
    expected = theirs(
        lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=0, factor=0.5, threshold=0.5), 5, 4, False,
        lrs=(0.05,), metrics=val,
    )
    for (step, value), (want,) in zip(lr, expected):
        assert math.isclose(value, want, rel_tol=1e-6), (step, value, want)
    assert lr[-1][1] < lr[0][1] / 4, "the plateau should have halved the lr several times"
