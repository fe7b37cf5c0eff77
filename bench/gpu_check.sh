#!/usr/bin/env bash
# The GPU check of issue 19, prepared to run unattended in under 8 minutes on a CUDA machine:
#   1. installs what is missing (the project and its test extra; torch is never replaced),
#   2. the gpu section of bench/run.py (Langevin at 1M chains eager and compiled, fraction of
#      FP32 peak, train step with 20 sampler steps, steps/s of every objective, buffer-ml in a
#      worker-like thread against the CPU),
#   3. the time-to-fit bench on CUDA (headless, --quick),
#   4. the GPU tests (pytest -m gpu),
# then prints the targets with the measured numbers. Results land in $OUT (default
# bench/gpu-check-out/): gpu.json, time_to_fit.json, pytest.txt, summary.txt.
#
#   bash bench/gpu_check.sh            # on a CUDA machine
#   bash bench/gpu_check.sh --dry-run  # a CPU-sized version of every step (CI runs it)
set -euo pipefail

DRY=0
case "${1:-}" in
  --dry-run) DRY=1 ;;
  "") ;;
  *) echo "usage: bash bench/gpu_check.sh [--dry-run]" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${OUT:-$ROOT/bench/gpu-check-out}"
mkdir -p "$OUT"
PY="${PYTHON:-python}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
START=$(date +%s)
FAILED=()
step() { echo "== [$(( $(date +%s) - START )) s] $*" >&2; }

# ---- 1. what it needs -------------------------------------------------------------------
step "checking dependencies"
if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "error: torch is not installed; install the CUDA build of torch first" >&2
  exit 1
fi
missing=$("$PY" - <<'EOF'
import importlib.util
mods = {"numpy": "numpy", "PySide6": "PySide6-Essentials", "pyqtgraph": "pyqtgraph",
        "safetensors": "safetensors", "tomli_w": "tomli-w", "tqdm": "tqdm", "PIL": "pillow",
        "pytest": "pytest", "pytestqt": "pytest-qt", "hypothesis": "hypothesis"}
print(" ".join(p for m, p in mods.items() if importlib.util.find_spec(m) is None))
EOF
)
if [[ -n "$missing" ]]; then
  step "installing: $missing"
  # Only the missing packages, never torch: the machine's CUDA build stays.
  # shellcheck disable=SC2086
  "$PY" -m pip install --quiet $missing
fi

if [[ $DRY -eq 1 ]]; then
  DEVICE=cpu
  RUN_ARGS=(--quick --only gpu --gpu-device cpu --gpu-chains 2000)
  TTF_ARGS=(--quick --no-studio --presets nce --datasets 8gaussians --eval-every 10
            --bound 100 --set train.steps=20 --set model.width=32 --set data.n_train=500
            --set data.n_test=200 --set train.grid_res=32)
  LIMIT=(240 120 120)
  TESTS=(tests/test_gpu.py)
else
  DEVICE=cuda
  if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "error: CUDA is not available to torch (use --dry-run for the CPU check)" >&2
    exit 1
  fi
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv
  RUN_ARGS=(--only gpu --gpu-device cuda)
  TTF_ARGS=(--quick --no-studio --device cuda --presets cd,pcd,buffer-ml,nce,fce,snl,dsm)
  LIMIT=(180 180 80)
  TESTS=(tests)
fi

# ---- 2. bench/run.py, gpu section ---------------------------------------------------------
step "bench/run.py gpu section on $DEVICE"
timeout "${LIMIT[0]}" "$PY" bench/run.py "${RUN_ARGS[@]}" --json "$OUT/gpu.json" \
  || FAILED+=("bench/run.py gpu section (not finished in ${LIMIT[0]} s or failed)")

# ---- 3. time to fit on the device ---------------------------------------------------------
step "bench/time_to_fit.py on $DEVICE"
timeout "${LIMIT[1]}" "$PY" bench/time_to_fit.py --device "$DEVICE" "${TTF_ARGS[@]}" \
  --json "$OUT/time_to_fit.json" \
  || FAILED+=("bench/time_to_fit.py (not finished in ${LIMIT[1]} s or failed)")

# ---- 4. the GPU tests (skipped, not failed, without CUDA) --------------------------------
step "pytest -m gpu"
set +e
timeout "${LIMIT[2]}" "$PY" -m pytest -m gpu -q -p no:cacheprovider "${TESTS[@]}" \
  > "$OUT/pytest.txt" 2>&1
[[ $? -eq 0 ]] || FAILED+=("pytest -m gpu (see $OUT/pytest.txt)")
set -e
tail -n 3 "$OUT/pytest.txt"

# ---- summary against the issue's targets -------------------------------------------------
step "summary"
"$PY" - "$OUT" "$DEVICE" <<'EOF' | tee "$OUT/summary.txt"
import json, sys
from pathlib import Path

out, device = Path(sys.argv[1]), sys.argv[2]
def load(name):
    p = out / name
    return json.loads(p.read_text()) if p.exists() else None

run = load("gpu.json") or {}
g = run.get("gpu")
print(f"device: {device}" + (f" ({g['device']})" if g else ""))
if g:
    print(f"Langevin {g['chains']} chains: {g['chain_steps_per_s_1M'] / 1e6:.1f}M chain-steps/s, "
          f"{100 * g['peak_fraction']:.0f}% of FP32 peak (target >= 30%)")
    print(f"train step, 20 sampler steps: {g['train_step_ms']:.2f} ms (target < 2 ms)")
    if "worker_buffer_ml_vs_cpu" in g:
        print(f"buffer-ml worker: {g['worker_buffer_ml_steps_per_s']:.0f} steps/s, "
              f"{g['worker_buffer_ml_vs_cpu']:.1f}x the CPU (target >= 5x)")
    print("steps/s by objective: " + ", ".join(
        f"{k} {v:.0f}" for k, v in g["train_steps_per_s"].items() if v is not None))
else:
    print("gpu section: no result")
ttf = load("time_to_fit.json")
if ttf:
    for preset, per in ttf["time_to_fit"].items():
        for data, r in per.items():
            secs = "-" if r["seconds"] is None else f"{r['seconds']:.1f} s"
            print(f"time to fit {preset} {data}: {secs} (step {r['steps']}), "
                  f"final KL {r['final_kl']:.4f}")
else:
    print("time to fit: no result")
EOF
step "done in $(( $(date +%s) - START )) s; results in $OUT"
if [[ ${#FAILED[@]} -gt 0 ]]; then
  printf 'FAILED: %s\n' "${FAILED[@]}" >&2
  exit 1
fi
