"""Reads the two journals of bench/sweep_pruning.sh with Python Optuna and prints what pruning
saved: epochs trained (one reported validation = one epoch), trials pruned, best value."""
import sys

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState


def summary(path: str):
    storage = JournalStorage(JournalFileBackend(path))
    (name,) = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    study = optuna.load_study(study_name=name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    epochs = sum(len(t.intermediate_values) for t in trials)
    states = {s: sum(t.state == s for t in trials) for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    return name, len(trials), epochs, states, study.best_value


def main() -> None:
    pruned, plain = summary(sys.argv[1]), summary(sys.argv[2])
    print("| study | trials | complete | pruned | failed | epochs trained | best val/accuracy |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, n, epochs, states, best in (pruned, plain):
        print(f"| {name} | {n} | {states[TrialState.COMPLETE]} | {states[TrialState.PRUNED]} | "
              f"{states[TrialState.FAIL]} | {epochs} | {best:.4f} |")
    saved = 1.0 - pruned[2] / plain[2]
    gap = (plain[4] - pruned[4]) * 100.0
    print(f"\nepochs saved by the median pruner: {saved * 100:.1f} % "
          f"({pruned[2]} vs {plain[2]}); best accuracy: {pruned[4] * 100:.2f} vs {plain[4] * 100:.2f} "
          f"({gap:+.2f} points for the unpruned study)")


if __name__ == "__main__":
    main()
