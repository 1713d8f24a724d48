"""trainscope's TPE scores candidates as Python optuna==5.0.0's TPESampler does.

The randomness of the two samplers differs (numpy's generator against trainscope's own), so
the test compares what is deterministic given a history: the split into "below"/"above"
trials (COMPLETE by value, PRUNED by last step then value, RUNNING above: constant liar),
the Parzen estimators' kernels, weights and truncation (continuous, log, stepped float, int,
log int, stepped int, categorical with the prior) and the acquisition log l(x) - log g(x) at
fixed points, for the joint estimator (multivariate) and for each parameter alone
(independent sampling). Histories come from real Optuna studies with COMPLETE, PRUNED, FAIL
and RUNNING trials, small and large (past the 25-trial weight ramp and gamma's cap)."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers._tpe import parzen_estimator as optuna_parzen_estimator
from optuna.samplers._tpe.sampler import _split_trials, default_gamma
from optuna.trial import TrialState

from sweep_algo_client import SweepTool, trial_json

optuna.logging.set_verbosity(optuna.logging.WARNING)
assert optuna.__version__ == "5.0.0"

CHOICES = ["adam", "sgd", None, 3, 2.5, True]
OPTUNA_SPACE = {
    "x": FloatDistribution(-3.0, 5.0),
    "lr": FloatDistribution(1e-5, 1.0, log=True),
    "drop": FloatDistribution(0.0, 0.5, step=0.05),
    "layers": IntDistribution(1, 8),
    "width": IntDistribution(16, 1024, log=True),
    "batch": IntDistribution(16, 256, step=16),
    "opt": CategoricalDistribution(CHOICES),
}
TOOL_SPACE = [
    {"name": "x", "type": "float", "low": -3.0, "high": 5.0},
    {"name": "lr", "type": "float", "low": 1e-5, "high": 1.0, "log": True},
    {"name": "drop", "type": "float", "low": 0.0, "high": 0.5, "step": 0.05},
    {"name": "layers", "type": "int", "low": 1, "high": 8},
    {"name": "width", "type": "int", "low": 16, "high": 1024, "log": True},
    {"name": "batch", "type": "int", "low": 16, "high": 256, "step": 16},
    {"name": "opt", "type": "categorical", "choices": CHOICES},
]


class _NumpyWithStableArgsort:
    """numpy, except that argsort keeps equal values in their original order.

    Optuna sorts the observations with numpy's default argsort, whose order among equal values
    is unspecified (introsort, SIMD variants). Which tied observation gets which bandwidth then
    matters once kernels have different weights (more than 25 observations) or form joint
    kernels. trainscope breaks ties by trial order; the reference is run the same way."""

    def __getattr__(self, name: str):
        return getattr(np, name)

    @staticmethod
    def argsort(a, *args, **kwargs):
        return np.argsort(a, kind="stable")


@pytest.fixture(autouse=True)
def stable_ties(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(optuna_parzen_estimator, "np", _NumpyWithStableArgsort())


def make_history(direction: str, n_trials: int, seed: int) -> optuna.Study:
    rng = np.random.default_rng(seed)
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.RandomSampler(seed))

    def objective(trial: optuna.Trial) -> float:
        p = {name: trial._suggest(name, dist) for name, dist in OPTUNA_SPACE.items()}
        value = (p["x"] - 1) ** 2 + (math.log10(p["lr"]) + 3) ** 2 + (p["opt"] == "sgd")
        value = round(value, 1) if rng.random() < 0.2 else value  # ties
        u = rng.random()
        if u < 0.15:  # pruned: reports some steps (or none)
            for step in range(int(rng.integers(0, 4))):
                trial.report(value + rng.normal(), step * 3)
            raise optuna.TrialPruned()
        if u < 0.2:
            raise RuntimeError("failed trial")
        return value

    study.optimize(objective, n_trials=n_trials, catch=(RuntimeError,))
    for _ in range(3):  # other workers' running trials
        trial = study.ask()
        for name, dist in OPTUNA_SPACE.items():
            trial._suggest(name, dist)
    return study


def optuna_acquisition(study: optuna.Study, space: dict, points: dict) -> np.ndarray:
    sampler = optuna.samplers.TPESampler(multivariate=True, constant_liar=True)
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    trials = study._get_trials(deepcopy=False, states=states, use_cache=False)
    n = sum(t.state != TrialState.RUNNING for t in trials)
    below, above = _split_trials(study, trials, default_gamma(n))
    mpe_below = sampler._build_parzen_estimator(study, space, below, handle_below=True)
    mpe_above = sampler._build_parzen_estimator(study, space, above, handle_below=False)
    return sampler._compute_acquisition_func(points, mpe_below, mpe_above)


def fixed_points(study: optuna.Study, seed: int) -> list[dict]:
    """Random points, every parameter's ends, and points on the observations themselves."""
    rng = np.random.default_rng(seed)
    random = optuna.samplers.RandomSampler(seed)
    points = []
    for _ in range(20):
        points.append({k: random.sample_independent(study, None, k, d) for k, d in OPTUNA_SPACE.items()})
    ends = {"x": (-3.0, 5.0), "lr": (1e-5, 1.0), "drop": (0.0, 0.5), "layers": (1, 8),
            "width": (16, 1024), "batch": (16, 256), "opt": ("adam", True)}
    for i in range(2):
        points.append({k: v[i] for k, v in ends.items()})
    observed = [t.params for t in study.trials if t.params]
    for i in rng.choice(len(observed), size=min(10, len(observed)), replace=False):
        points.append(dict(observed[i]))
    return points


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
@pytest.mark.parametrize("n_trials", [4, 40, 270])
def test_tpe_acquisition_matches_optuna(direction: str, n_trials: int) -> None:
    study = make_history(direction, n_trials, seed=n_trials)
    states = {t.state for t in study.trials}
    assert {TrialState.COMPLETE, TrialState.RUNNING} <= states
    if n_trials > 4:
        assert {TrialState.PRUNED, TrialState.FAIL} <= states
    trials = [trial_json(t) for t in study.trials]
    points = fixed_points(study, seed=n_trials + 1)
    tool = SweepTool()
    try:
        # Each parameter alone, then the joint estimator.
        subspaces = [[name] for name in OPTUNA_SPACE] + [list(OPTUNA_SPACE)]
        for names in subspaces:
            space = {k: OPTUNA_SPACE[k] for k in names}
            tool.request({"op": "study", "direction": direction,
                          "space": [p for p in TOOL_SPACE if p["name"] in names],
                          "sampler": {"kind": "tpe", "constant_liar": True}})
            ours = tool.request({"op": "acquisition", "trials": [
                {**t, "params": {k: v for k, v in t["params"].items() if k in names}} for t in trials],
                "number": len(study.trials), "points": [{k: p[k] for k in names} for p in points]})
            internal = {k: np.array([space[k].to_internal_repr(p[k]) for p in points]) for k in names}
            theirs = optuna_acquisition(study, space, internal)
            ours_arr = np.array([math.nan if v is None else v for v in ours["values"]])
            assert np.all(np.isfinite(theirs))
            np.testing.assert_allclose(ours_arr, theirs, rtol=1e-7, atol=1e-8, err_msg=f"space {names}")
    finally:
        tool.close()
