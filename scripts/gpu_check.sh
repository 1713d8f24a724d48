#!/usr/bin/env bash
# The CUDA end-to-end check (issue 17), one command on the GPU machine, or its dry run here.
#
#   scripts/gpu_check.sh             on a CUDA machine, from the repository root, with .gpu/
#                                    staged by scripts/gpu_stage.sh and carried along
#   scripts/gpu_check.sh --dry-run   the same steps on this machine's CPU at tiny sizes: stages
#                                    .gpu/ first (gpu_stage.sh, BUILD_DIR) and checks the carry
#                                    size; CUDA-only checks are reported SKIPPED with the reason
#
# Steps (each under its own timeout, all under BUDGET_S; the order puts the most telling first):
#   stage         (dry run) gpu_stage.sh: the carry set (working tree + .gpu) under 64 MiB
#   env           devices, versions, torch-tb-profiler from the staged wheel
#   cuda_tests    the five CUDA-only tests: Cuda.* (SDK device paths), TrainerCuda.* (AMP bf16 /
#                 fp16, pinned batches, clipping, resume), RichSummaries.CudaCalls*, MemoryPlugin.Cuda*
#   main_job      examples/fashion_mnist_cnn, every plugin, one epoch; TensorBoard's loader judges
#                 the logs against examples/fashion_mnist_cnn/expected_tags.txt, images decode, the
#                 graph parses, the projector lists the embedding, the profiler trace holds GPU
#                 kernels and torch-tb-profiler shows GPU time in its overview; HTA's temporal
#                 breakdown, when HolisticTraceAnalysis (with plotly, pydot) is importable there
#   conformance   tests/conformance/test_plugins_all.py's run (every plugin's conformance.toml) on
#                 the device, judged by every plugin's expected_tags.txt
#   dcgan, hparam_search, word_embeddings, custom_plugin   each example, one short epoch, judged
#   distributed   trainscope launch on every GPU (NCCL; world size 1 on one GPU; 2 Gloo ranks in the
#                 dry run) with the conformance run's plugins, rank 0's logs judged as above
#   speed         samples/s: bench/tutorial_loop.py (PyTorch tutorial loop) vs trainscope run with
#                 scalars+histograms+images; every main-job plugin vs none; scalars vs none
#   plugin_tests  every *_plugin_test program (the CTest label "plugin")
# Output: the console (also $OUT/gpu_check.txt), $OUT/summary.txt, $OUT/speed.md and
# $OUT/step_logs.tar.gz (each step's full log); runs are written under WORK (a temp dir).
# Exit status 0 when no check failed. Environment: OUT (default gpu-out), BUDGET_S (default 460
# on the GPU, 2400 in the dry run), PYTHON (dry run: .venv/bin/python), BUILD_DIR (dry run).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
SELF=scripts/gpu_check.sh
G=.gpu

step=""
if [[ ${1:-} == --step ]]; then
  step=$2  # internal: one step, in a child process run under `timeout` by the parent
  : "${TS_MODE:?--step is internal: run scripts/gpu_check.sh [--dry-run]}"
elif [[ ${1:-} == --dry-run ]]; then
  export TS_MODE=dry
elif [[ $# -eq 0 ]]; then
  export TS_MODE=gpu
else
  echo "usage: scripts/gpu_check.sh [--dry-run]" >&2
  exit 2
fi

# ---------------------------------------------------------------------------------------------
# Settings shared by the parent and every step.
if [[ $TS_MODE == gpu ]]; then
  PY=python3 DEVICE=cuda KERNELS=required
  CAT="CUDA"
else
  PY=${PYTHON:-.venv/bin/python} DEVICE=cpu KERNELS=skip
  CAT="CPU dry run"
fi
if [[ -z $step ]]; then
  export TS_OUT=${OUT:-gpu-out}
  export TS_WORK=${WORK:-$(mktemp -d -t ts-gpu-check.XXXXXX)}
fi
OUTD=$TS_OUT WORK=$TS_WORK LOGS=$TS_WORK/logs
DATA=$PWD/$G/data/fashion-mnist
export TRAINSCOPE_PLUGIN_PATH=$PWD/$G/plugins TRAINSCOPE_TEST_TMP=$WORK/test-tmp PYTHONUNBUFFERED=1
[[ -d $WORK/site ]] && export PYTHONPATH=$WORK/site${PYTHONPATH:+:$PYTHONPATH}
if [[ -z $step ]]; then
  # As the kit's gpu-env.sh: the staged libraries first, then this machine's torch (found once:
  # importing torch takes seconds, and every step inherits the result).
  if torch_lib=$("$PY" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null); then
    export LD_LIBRARY_PATH=$PWD/$G/lib:$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  fi
fi

# Sizes: the GPU run trains on the whole staged data; the dry run keeps every run tiny.
if [[ $TS_MODE == gpu ]]; then
  MAIN_SIZE=(--set trainer.epochs=1)
  DCGAN_SIZE=(--set trainer.epochs=1 --set data.train_limit=12800)
  SEARCH_SIZE=(--lr 0.001,0.01 --batch-size 64 --optimizer adam,sgd --set trainer.epochs=1)
  SEARCH_SESSIONS=4
  WORDS_SIZE=(--epochs 1)
  CUSTOM_SIZE=(--set trainer.epochs=1 --set data.train_limit=10000 --set data.val_limit=2000)
  SPEED_SIZE=(--set trainer.epochs=2) SPEED_EPOCHS=2 SPEED_LIMIT=0 SPEED_ROUNDS=2
  TEST_JOBS=8
else
  MAIN_SIZE=(--set trainer.epochs=2 --set data.train_limit=3200 --set data.val_limit=256)  # 100 steps
  DCGAN_SIZE=(--set trainer.epochs=1 --set data.train_limit=384 --set trainer.batch_size=64 --width 8 --nz 16
              --set trainer.log_every_n_steps=2 --samples 16)
  SEARCH_SIZE=(--lr 0.001,0.01 --batch-size 64 --optimizer adam --set trainer.epochs=1
               --set data.train_limit=192 --set data.val_limit=64)
  SEARCH_SESSIONS=2
  WORDS_SIZE=(--epochs 1 --dim 16)
  CUSTOM_SIZE=(--set trainer.epochs=1 --set data.train_limit=512 --set data.val_limit=256)
  SPEED_SIZE=(--set trainer.epochs=2 --set data.train_limit=1280 --set data.val_limit=256)
  SPEED_EPOCHS=2 SPEED_LIMIT=1280 SPEED_ROUNDS=1
  TEST_JOBS=1
fi

pass() { printf 'PASS %s%s\n' "$1" "${2:+: $2}"; }
fail() { printf 'FAIL %s%s\n' "$1" "${2:+: $2}"; }
skip() { printf 'SKIPPED %s%s\n' "$1" "${2:+: $2}"; }
ngpus() { "$PY" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0; }

# run_logged NAME CMD...: runs CMD, its output to the console and $WORK/NAME.out; its status.
run_logged() {
  local name=$1; shift
  echo "\$ $*"
  "$@" 2>&1 | tee "$WORK/$name.out"
  local rc=${PIPESTATUS[0]}
  (( rc == 0 )) && pass "$name exits 0" || fail "$name exits 0" "exit status $rc"
  return "$rc"
}

# no_disabled_plugin NAME: the run's output has no "was disabled" (a plugin threw and was turned off).
no_disabled_plugin() {
  if grep -q "was disabled" "$WORK/$1.out"; then fail "$1: no plugin disabled" "$(grep -m3 'was disabled' "$WORK/$1.out")"
  else pass "$1: no plugin disabled"; fi
}

judge() { "$PY" tests/conformance/check_logdir.py check "$@" --kernels "$KERNELS"; }

# gtest_report MODE LOG...: one line per test of gtest's console LOG(s). MODE "cuda": a skipped
# test fails on a GPU machine and is SKIPPED (with gtest's reason) in the dry run.
gtest_report() {
  "$PY" - "$@" <<'PY'
import re, sys
mode, logs = sys.argv[1], sys.argv[2:]
bad = 0
for log in logs:
    text = open(log, errors="replace").read()
    body, current, seen = [], None, 0
    for line in text.splitlines():
        m = re.match(r"\[ RUN      \] (\S+)", line)
        if m:
            current, body = m.group(1), []
            continue
        m = re.match(r"\[ +(OK|FAILED|SKIPPED) +\] (\S+) \(", line)
        if m and m.group(2) == current:
            seen += 1
            status, name = m.group(1), current
            if status == "OK":
                print(f"PASS {name}")
            elif status == "SKIPPED":
                reason = " ".join(l.strip() for l in body if l.strip() and not l.strip().endswith("Skipped"))
                if mode == "gpu":
                    bad += 1
                    print(f"FAIL {name}: skipped on the GPU machine ({reason})")
                else:
                    print(f"SKIPPED {name}: {reason or 'skipped'}")
            else:
                bad += 1
                print(f"FAIL {name}: " + " | ".join(l.strip() for l in body if l.strip())[:600])
            current = None
            continue
        if current:
            body.append(line)
    if current:  # started, never finished: a crash or a timeout
        bad += 1
        print(f"FAIL {current}: did not finish (crash?); see {log}")
    if seen == 0:
        bad += 1
        print(f"FAIL {log}: no test ran")
sys.exit(1 if bad else 0)
PY
}

# ---------------------------------------------------------------------------------------------
# Steps: each prints PASS / FAIL / SKIPPED lines; a non-zero status or a FAIL line fails it.

step_stage() {
  [[ $TS_MODE == dry ]] || { skip "carry set under 64 MiB" "measured where .gpu is staged (gpu_stage.sh)"; return 0; }
  local out
  out=$(BUILD_DIR=${BUILD_DIR:-build} bash scripts/gpu_stage.sh 2>&1); local rc=$?
  echo "$out"
  local line; line=$(grep 'carry set:' <<<"$out")
  if (( rc == 0 )) && [[ -n $line ]]; then pass "carry set under 64 MiB" "${line#gpu_stage: carry set: }"
  else fail "carry set under 64 MiB" "gpu_stage.sh exit status $rc"; fi
}

step_env() {
  echo "mode: $TS_MODE ($CAT), $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m), $(nproc) cores"
  "$PY" -c 'import torch, tensorboard; print("torch", torch.__version__, "cuda", torch.version.cuda, "tensorboard", tensorboard.__version__); [print(f"  cuda:{i}", torch.cuda.get_device_name(i)) for i in range(torch.cuda.device_count())]'
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  local n; n=$(ngpus)
  if [[ $TS_MODE == gpu ]]; then
    (( n > 0 )) && pass "CUDA device present" "$n GPU(s)" || { fail "CUDA device present" "torch sees none: run with --dry-run here"; return 1; }
  else
    skip "CUDA device present" "dry run: every step runs on the CPU ($n GPU(s) visible)"
  fi
  [[ -x $G/bin/trainscope ]] && pass "staged programs" "$(ls "$G/bin" | wc -l) in $G/bin" || { fail "staged programs" "$G/bin/trainscope missing: run scripts/gpu_stage.sh"; return 1; }
  # The plugin tests look for the plugins where they were built (compiled in): point that
  # path at the staged folders when this machine lacks it.
  local built; built=$(cat "$G/build_dir.txt")
  if [[ -d $built/plugins ]]; then
    pass "plugin tests' plugin folder" "$built/plugins exists here"
  elif mkdir -p "$built/tests" 2>/dev/null && ln -sfn "$PWD/$G/plugins" "$built/plugins" &&
       ln -sfn "$PWD/$G/test_plugins" "$built/tests/plugins"; then
    pass "plugin tests' plugin folder" "$built/plugins -> $G/plugins"
  else
    fail "plugin tests' plugin folder" "cannot create $built/plugins"
  fi
  mkdir -p "$WORK/test-tmp"
  local wheel; wheel=$(ls "$G"/wheels/torch_tb_profiler-*.whl 2>/dev/null | head -1)
  if [[ -n $wheel ]]; then
    "$PY" -m zipfile -e "$wheel" "$WORK/site" && pass "torch-tb-profiler unpacked" "$(basename "$wheel") -> PYTHONPATH"
  else
    skip "torch-tb-profiler unpacked" "no wheel staged in $G/wheels"
  fi
  if PYTHONPATH=$WORK/site${PYTHONPATH:+:$PYTHONPATH} "$PY" -c 'import torch_tb_profiler' 2>"$WORK/tbp.err"; then
    pass "torch-tb-profiler imports"
  else
    skip "torch-tb-profiler imports" "$(tail -1 "$WORK/tbp.err")"
  fi
}

step_cuda_tests() {
  export OMP_NUM_THREADS=1
  local rc=0
  mkdir -p "$WORK/gtest"
  "$G/bin/cuda_test" --gtest_filter='Cuda.*' > "$WORK/gtest/cuda_test.log" 2>&1
  "$G/bin/trainer_test" --gtest_filter='TrainerCuda.*' > "$WORK/gtest/trainer_test.log" 2>&1
  "$G/bin/pr_mesh_embedding_test" --gtest_filter='RichSummaries.CudaCalls*' > "$WORK/gtest/pr_mesh_embedding_test.log" 2>&1
  "$G/bin/memory_plugin_test" --gtest_filter='MemoryPlugin.Cuda*' > "$WORK/gtest/memory_plugin_test.log" 2>&1
  grep -h "caller-side\|took" "$WORK"/gtest/*.log
  gtest_report "$TS_MODE" "$WORK"/gtest/{cuda_test,trainer_test,pr_mesh_embedding_test,memory_plugin_test}.log | tee "$WORK/cuda_tests.lines" || rc=1
  local n; n=$(grep -cE '^(PASS|FAIL|SKIPPED) [A-Za-z0-9_]+\.[A-Za-z0-9_]+(:|$)' "$WORK/cuda_tests.lines")
  (( n == 5 )) && pass "five CUDA-only tests found" || { fail "five CUDA-only tests found" "$n results"; rc=1; }
  return $rc
}

step_plugin_tests() {
  export OMP_NUM_THREADS=1  # as CTest runs them (scripts/test.sh)
  mkdir -p "$WORK/plugin_tests"
  ls "$G"/bin/*_plugin_test | xargs -P "$TEST_JOBS" -I{} sh -c '"$1" > "$2/$(basename "$1").log" 2>&1' _ {} "$WORK/plugin_tests"
  local rc=0 lines
  for log in "$WORK"/plugin_tests/*.log; do
    local p f s report=0
    lines=$(gtest_report "$TS_MODE" "$log" 2>&1) || { rc=1; report=1; }
    p=$(grep -c '^PASS' <<<"$lines"); f=$(grep -c '^FAIL' <<<"$lines"); s=$(grep -c '^SKIPPED' <<<"$lines")
    if (( report && f == 0 )); then fail "$(basename "$log" .log)" "could not read its results: $(tail -1 <<<"$lines")"
    elif (( f > 0 )); then fail "$(basename "$log" .log)" "$p passed, $f failed: $(grep '^FAIL' <<<"$lines" | head -3 | tr '\n' ' ')"
    elif (( s > 0 )); then pass "$(basename "$log" .log)" "$p passed, $s skipped"
    else pass "$(basename "$log" .log)" "$p passed"; fi
    grep '^SKIPPED' <<<"$lines"
  done
  return $rc
}

step_main_job() {
  local logs=$WORK/main/runs
  run_logged main_job "$G/bin/fashion_mnist_cnn" examples/fashion_mnist_cnn/fashion_mnist_cnn.toml \
    --set "run.device=\"$DEVICE\"" --set "run.log_dir=\"$logs\"" --set "data.path=\"$DATA\"" "${MAIN_SIZE[@]}" || return 1
  no_disabled_plugin main_job
  grep -E '^epoch [0-9]+/[0-9]+ ([0-9]+)/\1 ' "$WORK/main_job.out" | tail -1 | sed 's/^/main job, last epoch'"'"'s training: /'
  judge "$logs" --run fashion_mnist_cnn --expect-file examples/fashion_mnist_cnn/expected_tags.txt --projector --tb-profiler --hta
}

step_conformance() {
  mkdir -p "$WORK/conformance"
  local cfg=$WORK/conformance/all.toml logs=$WORK/conformance/runs
  "$PY" tests/conformance/check_logdir.py conformance-config --log-dir "$logs" --device "$DEVICE" > "$cfg" || return 1
  run_logged conformance "$G/bin/trainscope" run "$cfg" || return 1
  no_disabled_plugin conformance
  judge "$logs" --run all --plugins all --projector
}

step_dcgan() {
  local run=$WORK/dcgan/run
  run_logged dcgan "$G/bin/dcgan" --config examples/dcgan/dcgan.toml --path "$PWD/$G/plugins" \
    --set "run.device=\"$DEVICE\"" --set "run.log_dir=\"$WORK/dcgan\"" --set 'run.name="run"' \
    --set "data.path=\"$DATA\"" "${DCGAN_SIZE[@]}" || return 1
  no_disabled_plugin dcgan
  judge "$run" --run . --expect 'scalars train/discriminator' --expect 'scalars train/generator' --expect 'scalars D/x' \
    --expect 'scalars D/G_z' --expect 'scalars D/G_z_after' --expect 'images samples/fixed_noise' \
    --expect 'images samples/real' --expect 'histograms weights/generator/deconv1\.weight' \
    --expect 'histograms weights/discriminator/conv1\.weight'
}

step_hparam_search() {
  [[ -x $G/bin/hparam_search ]] || { skip "hparam_search" "not staged (not built)"; return 0; }
  local logs=$WORK/search/runs
  run_logged hparam_search "$G/bin/hparam_search" --config examples/hparam_search/search.toml "${SEARCH_SIZE[@]}" \
    --set "run.device=\"$DEVICE\"" --set "run.log_dir=\"$logs\"" --set "data.path=\"$DATA\"" || return 1
  no_disabled_plugin hparam_search
  judge "$logs" --hparams-sessions "$SEARCH_SESSIONS" --expect 'hparams _hparams_/session_start_info' \
    --expect 'scalars train/loss' --expect 'scalars val/loss' --expect 'scalars val/accuracy'
}

step_word_embeddings() {
  local run=$WORK/words/run text=()
  [[ -f $G/data/GPL-3 ]] && text=(--text "$G/data/GPL-3")
  run_logged word_embeddings "$G/bin/word_embeddings" "${text[@]}" --device "$DEVICE" --log-dir "$run" \
    --log-every 10 "${WORDS_SIZE[@]}" || return 1
  judge "$run" --run . --projector --expect 'scalars loss/epoch' --expect 'scalars loss/train' \
    --expect 'text neighbours/text_summary'
}

step_custom_plugin() {
  ls "$G"/custom_plugins/*.so >/dev/null 2>&1 || { fail "custom plugin staged" "$G/custom_plugins is empty"; return 1; }
  local logs=$WORK/custom/runs
  run_logged custom_plugin "$G/bin/trainscope" run examples/custom_plugin/run.toml --path "$PWD/$G/custom_plugins" \
    --set "run.device=\"$DEVICE\"" --set "run.log_dir=\"$logs\"" --set "data.path=\"$DATA\"" \
    --set plugin.weight_norm.every_n_steps=4 "${CUSTOM_SIZE[@]}" || return 1
  no_disabled_plugin custom_plugin
  judge "$logs" --run custom_plugin --expect 'scalars weight_norm/total' --expect 'scalars weight_norm/conv1\.weight'
}

step_distributed() {
  local n backend
  if [[ $TS_MODE == gpu ]]; then n=$(ngpus) backend=nccl; else n=2 backend=gloo; fi
  mkdir -p "$WORK/dist"
  local cfg=$WORK/dist/dist.toml logs=$WORK/dist/runs
  "$PY" tests/conformance/check_logdir.py conformance-config --log-dir "$logs" --device "$DEVICE" --run dist > "$cfg" || return 1
  run_logged distributed "$G/bin/trainscope" launch -n "$n" --master-port 0 --timeout 120 -- \
    "$PWD/$G/bin/trainscope" run "$cfg" || return 1
  if (( n > 1 )); then
    if grep -qE "ranks: +0 of $n .*$backend" "$WORK/distributed.out"; then pass "world size $n over $backend"
    else fail "world size $n over $backend" "$(grep -m2 'ranks:' "$WORK/distributed.out")"; fi
  else
    skip "NCCL" "one GPU here: world size 1 runs as a single process (no process group); NCCL needs 2+ GPUs"
  fi
  no_disabled_plugin distributed
  if compgen -G "$logs/dist/rank*" >/dev/null; then fail "only rank 0 writes" "$(ls -d "$logs"/dist/rank*)"
  else pass "only rank 0 writes"; fi
  judge "$logs" --run dist --plugins all
}

step_speed() {
  local dir=$WORK/speed base=examples/configs/fashion_mnist.toml threads
  mkdir -p "$dir"
  # Same thread count on both sides: trainscope run's own default (half the cores), or 1 in the dry run.
  threads=$(( $(nproc) / 2 )); (( threads >= 1 )) || threads=1
  [[ $TS_MODE == dry ]] && threads=1
  export OMP_NUM_THREADS=$threads
  # Configurations: the plugin-free base plus [[plugin]] tables; "all" = the main job's tables.
  cp "$base" "$dir/none.toml"
  { cat "$base"; printf '\n[[plugin]]\nname = "scalars"\n'; } > "$dir/scalars.toml"
  { cat "$base"; printf '\n[[plugin]]\nname = "%s"\n' scalars histograms images; } > "$dir/shi.toml"
  { cat "$base"; echo; sed -n '/^\[\[plugin\]\]/,$p' examples/fashion_mnist_cnn/fashion_mnist_cnn.toml; } > "$dir/all.toml"
  local r cfg rc=0 limit=()
  (( SPEED_LIMIT > 0 )) && limit=(--train-limit "$SPEED_LIMIT")
  for (( r = 1; r <= SPEED_ROUNDS; r++ )); do
    echo "-- round $r: python, none, scalars, shi, all ($OMP_NUM_THREADS threads)"
    "$PY" bench/tutorial_loop.py --data "$DATA" --device "$DEVICE" --epochs "$SPEED_EPOCHS" "${limit[@]}" \
      --log-dir "$dir/runs/python_r$r" > "$dir/python_r$r.out" 2>&1 || { rc=1; fail "tutorial_loop.py round $r" "$(tail -3 "$dir/python_r$r.out")"; }
    grep -h "^tutorial_loop: epoch" "$dir/python_r$r.out"
    for cfg in none scalars shi all; do
      "$G/bin/trainscope" run "$dir/$cfg.toml" "${SPEED_SIZE[@]}" --set trainer.checkpoint_every_n_epochs=0 \
        --set "run.device=\"$DEVICE\"" --set "run.log_dir=\"$dir/runs\"" --set "run.name=\"${cfg}_r$r\"" \
        --set "data.path=\"$DATA\"" > "$dir/${cfg}_r$r.out" 2>&1 || { rc=1; fail "trainscope run $cfg round $r" "$(tail -3 "$dir/${cfg}_r$r.out")"; }
      echo "   $cfg: $(grep -h '^done:' "$dir/${cfg}_r$r.out")"
    done
  done
  "$PY" - "$dir" "$SPEED_EPOCHS" "$SPEED_ROUNDS" "$TS_MODE" "$OUTD/speed.md" "$DEVICE" <<'PY' || rc=1
import re, statistics, subprocess, sys
from pathlib import Path
d, epochs, rounds, mode, md, device = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
def trainscope_rate(path):
    # The progress line at the end of the last epoch's training: "epoch E/E N/N  step S ... R samples/s".
    rate = None
    for line in path.read_text().splitlines():
        m = re.match(rf"epoch {epochs}/{epochs} (\d+)/(\d+) .* (\d+) samples/s", line)
        if m and m.group(1) == m.group(2):
            rate = float(m.group(3))
    return rate
def wall(path):
    # The whole run, both epochs with validation and every plugin's epoch-end work: "done: ... in T s"
    # (trainscope) or the sum of the epoch lines (the Python loop has no validation).
    text = path.read_text()
    m = re.search(r"^done: .* in ([0-9.]+) s", text, re.M)
    if m:
        return float(m.group(1))
    secs = [float(x) for x in re.findall(r"^tutorial_loop: epoch .* samples in ([0-9.]+) s", text, re.M)]
    return sum(secs) if secs else None
def python_rate(path):
    m = re.search(r"^RESULT samples_per_sec=([0-9.]+)", path.read_text(), re.M)
    return float(m.group(1)) if m else None
rows = {"python": "PyTorch tutorial loop (bench/tutorial_loop.py)", "shi": "trainscope run: scalars + histograms + images",
        "none": "trainscope run: no plugins", "scalars": "trainscope run: scalars", "all": "trainscope run: every main-job plugin"}
rates = {}
for key in rows:
    got = [(python_rate if key == "python" else trainscope_rate)(d / f"{key}_r{r}.out") for r in range(1, rounds + 1)]
    rates[key] = got
    if any(g is None for g in got):
        print(f"FAIL speed: no samples/s for {key} ({got})")
med = {k: statistics.median(v) for k, v in rates.items() if v and all(g is not None for g in v)}
targets = [("shi", "python", 1.5, ">= 1.5x"), ("scalars", "none", 0.98, "within 2%"), ("all", "none", 0.90, "within 10%")]
try:
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                         text=True).stdout.strip().splitlines() if mode == "gpu" else []
except OSError:
    gpu = []
where = f"{gpu[0] if gpu else device}" if mode == "gpu" else "CPU dry run (tiny data, shared 2-core machine: not a measurement)"
lines = [f"Training samples/s of epoch {epochs} of {epochs} (its training loop, as the progress line reports it), median of "
         f"{rounds} interleaved round(s), on {where}. Wall: the whole run's seconds per round (trainscope: `done:` line, "
         "validation and epoch-end plugin work included; Python: its training loops).", "",
         "| run | samples/s per round | median | wall s per round | compared with | ratio | target | met |",
         "|---|---|---|---|---|---|---|---|"]
verdicts = {}
for key, label in rows.items():
    per = ", ".join("-" if g is None else f"{g:.0f}" for g in rates[key])
    t = next((t for t in targets if t[0] == key), None)
    ratio = met = cmp = tgt = ""
    if t and key in med and t[1] in med:
        r = med[key] / med[t[1]]
        ratio, cmp, tgt = f"{r:.3f}", rows[t[1]], t[3]
        met = ("yes" if r >= t[2] else "no") if mode == "gpu" else "(not judged)"
        verdicts[key] = (r >= t[2], f"{label} vs {rows[t[1]]}: x{r:.3f} ({tgt})")
    walls = ", ".join("-" if w is None else f"{w:.1f}" for w in (wall(d / f"{key}_r{r}.out") for r in range(1, rounds + 1)))
    lines.append(f"| {label} | {per} | {med.get(key, float('nan')):.0f} | {walls} | {cmp} | {ratio} | {tgt} | {met} |")
text = "\n".join(lines) + "\n"
print(text)
Path(md).write_text(text)
for key, (ok, detail) in verdicts.items():
    if mode == "gpu":
        print(f"{'PASS' if ok else 'FAIL'} speed target: {detail}")
    else:
        print(f"SKIPPED speed target: {detail}: judged on the GPU only")
if all(k in med for k in rows):
    print(f"PASS speed table: {len(rows)} rows measured")
PY
  return $rc
}

if [[ -n $step ]]; then
  mkdir -p "$WORK"
  "step_$step"
  exit $?
fi

# ---------------------------------------------------------------------------------------------
# The parent: every step under its timeout, a summary at the end.
mkdir -p "$OUTD" "$LOGS"
exec > >(tee "$OUTD/gpu_check.txt") 2>&1
TEE_PID=$!
BUDGET_S=${BUDGET_S:-$([[ $TS_MODE == gpu ]] && echo 460 || echo 2400)}
SUMMARY=()
echo "gpu_check.sh ($CAT): work dir $WORK, output $OUTD, budget ${BUDGET_S}s"

run_step() {  # NAME CAP_SECONDS
  local name=$1 cap=$2 left limit rc t0=$SECONDS log=$LOGS/$1.log status detail
  left=$(( BUDGET_S - SECONDS ))
  if (( left < 20 )); then  # a check that did not run has not passed
    echo; echo "== $name: not run (the ${BUDGET_S}s budget is spent)"
    SUMMARY+=("$(printf '%-8s %-16s %s' FAIL "$name" "not run: the ${BUDGET_S}s budget is spent")"); return 1
  fi
  limit=$(( cap < left ? cap : left ))
  echo; echo "== $name (at ${SECONDS}s, limit ${limit}s)"
  timeout -k 10 "$limit" bash "$SELF" --step "$name" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  local p f s
  p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIPPED ' "$log")
  detail="$p passed, $f failed, $s skipped, $(( SECONDS - t0 ))s"
  if (( rc == 124 || rc == 137 )); then status=FAIL detail="timed out after ${limit}s; $detail"
  elif (( rc != 0 || f > 0 )); then status=FAIL detail="exit status $rc; $detail"
  elif (( p == 0 && s > 0 )); then status=SKIPPED
  else status=PASS; fi
  SUMMARY+=("$(printf '%-8s %-16s %s' "$status" "$name" "$detail")")
  while IFS= read -r l; do SUMMARY+=("           $l"); done < <(grep -E '^(FAIL|SKIPPED) ' "$log" | cut -c1-300)
  [[ $status != FAIL ]]
}

staged=1
[[ $TS_MODE == dry ]] && { run_step stage 900 || staged=0; }
if (( staged )) && { run_step env 60 || [[ $TS_MODE == dry ]]; }; then  # on the GPU machine nothing works without it
  run_step cuda_tests 150
  run_step main_job 150
  run_step conformance 120
  run_step dcgan 90
  run_step hparam_search 120
  run_step word_embeddings 60
  run_step custom_plugin 60
  run_step distributed 150
  run_step speed 240
  run_step plugin_tests 240
fi

echo; echo "== summary ($CAT, $(date -u '+%Y-%m-%d %H:%M UTC'), ${SECONDS}s)"
printf '%s\n' "${SUMMARY[@]}" | tee "$OUTD/summary.txt"
tar -czf "$OUTD/step_logs.tar.gz" -C "$WORK" logs $(cd "$WORK" && ls -d *.out speed/*.out gtest plugin_tests 2>/dev/null) 2>/dev/null
failed=$(printf '%s\n' "${SUMMARY[@]}" | grep -c '^FAIL')
echo "gpu_check.sh: $([[ $failed == 0 ]] && echo OK || echo "FAILED ($failed steps)")"
exec >&- 2>&-
wait "$TEE_PID" 2>/dev/null  # the console copy is complete before the machine hands $OUT back
exit $(( failed > 0 ))
