"""trainscope's median and successive-halving pruners decide as Python optuna==5.0.0 does.

Optuna runs studies whose objectives report random learning curves (irregular steps, ties,
NaN, both directions, several pruner settings); before every `should_prune()` the study's
trials are captured. The same pruner configuration in tests/tools/sweep_algo_tool is asked
about the same captured histories, in the same order (successive halving estimates
min_resource once and keeps it, so the order matters), and must give the same decision and
record the same "completed_rung_<k>" attributes."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

from sweep_algo_client import SweepTool, trial_json

optuna.logging.set_verbosity(optuna.logging.WARNING)
assert optuna.__version__ == "5.0.0"

MEDIAN = [
    {},
    {"n_startup_trials": 2, "n_warmup_steps": 3, "interval_steps": 2},
    {"n_startup_trials": 0, "n_warmup_steps": 0, "interval_steps": 3, "n_min_trials": 3},
]
SHA = [
    {},
    {"min_resource": 2, "reduction_factor": 2},
    {"min_resource": 1, "reduction_factor": 3, "min_early_stopping_rate": 1},
]


def optuna_pruner(kind: str, cfg: dict):
    if kind == "median":
        return optuna.pruners.MedianPruner(**cfg)
    return optuna.pruners.SuccessiveHalvingPruner(**cfg)


def capture(kind: str, cfg: dict, direction: str, seed: int, n_trials: int = 40):
    """Run an Optuna study; return [(trials, trial, decision, recorded attrs)] per report."""
    rng = np.random.default_rng(seed)
    study = optuna.create_study(direction=direction, pruner=optuna_pruner(kind, cfg))
    cases = []

    def objective(trial: optuna.Trial) -> float:
        length = int(rng.integers(1, 60))
        level, slope = rng.normal(), rng.uniform(0.0, 0.1)
        step = 0
        value = level
        for _ in range(length):
            step += int(rng.choice([1, 1, 1, 2, 5]))
            value = level - slope * math.log1p(step) + 0.05 * rng.normal()
            if rng.random() < 0.03:
                value = math.nan
            elif rng.random() < 0.2:
                value = round(value, 1)  # ties
            if direction == "maximize" and not math.isnan(value):
                value = -value
            trial.report(value, step)
            trials = study.get_trials(deepcopy=True)
            me = study._storage.get_trial(trial._trial_id)
            before = dict(me.system_attrs)
            decision = trial.should_prune()
            after = study._storage.get_trial(trial._trial_id).system_attrs
            recorded = {k: v for k, v in after.items() if k not in before}
            cases.append((trials, me, decision, recorded))
            if decision:
                raise optuna.TrialPruned()
        if rng.random() < 0.05:
            raise RuntimeError("a failing trial")
        return value

    study.optimize(objective, n_trials=n_trials, catch=(RuntimeError,))
    return cases


@pytest.mark.filterwarnings("ignore:All-NaN slice encountered:RuntimeWarning")
@pytest.mark.parametrize("direction", ["minimize", "maximize"])
@pytest.mark.parametrize(
    "kind,cfg", [("median", c) for c in MEDIAN] + [("successive_halving", c) for c in SHA]
)
def test_pruner_decisions_match_optuna(kind: str, cfg: dict, direction: str) -> None:
    seed = len(str(cfg)) * 7 + (1 if direction == "maximize" else 0)
    cases = capture(kind, cfg, direction, seed)
    assert len(cases) > 100
    decisions = [c[2] for c in cases]
    # The histories must exercise both answers, or the comparison proves little.
    assert any(decisions) and not all(decisions), f"{kind} {cfg}: {sum(decisions)}/{len(decisions)}"

    tool = SweepTool()
    try:
        tool.request({"op": "study", "direction": direction, "pruner": {"kind": kind, **cfg}})
        mismatches = []
        for i, (trials, me, decision, recorded) in enumerate(cases):
            answer = tool.request(
                {"op": "prune", "trials": [trial_json(t) for t in trials], "trial": trial_json(me)}
            )
            if answer["prune"] != decision or answer["attrs"] != recorded:
                mismatches.append((i, me.number, decision, recorded, answer))
        assert not mismatches, f"{len(mismatches)} of {len(cases)} differ, first: {mismatches[:3]}"
    finally:
        tool.close()
