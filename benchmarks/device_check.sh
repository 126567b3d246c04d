#!/usr/bin/env bash
# One command for a machine with a GPU: the 12-row study on 10,000 generated 256x256 images
# (20 trials a row), the predict benchmark (fakezoo.predict against a plain loop and against
# the ceiling), and the tests marked `cuda`; then one summary table.
#
#   benchmarks/device_check.sh              # on a GPU, budget: under 8 minutes
#   benchmarks/device_check.sh --dry-run    # on a CPU: every size shrunk, same steps
#   benchmarks/device_check.sh --out DIR    # keep the data, runs and logs in DIR
#
# Each step's log is kept in DIR/logs; a failing step is reported in the table and the others
# still run. The exit status is 0 only when every step passed.
set -uo pipefail

DRY=0
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --out) OUT="$2"; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "device_check.sh: unknown argument '$1' (use --dry-run, --out DIR)" >&2; exit 2 ;;
  esac
  shift
done

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PY="${PYTHON:-python}"
OUT="${OUT:-$(mktemp -d -t fakezoo-device-check-XXXXXX)}"
mkdir -p "$OUT/logs"
export TQDM_DISABLE="${TQDM_DISABLE:-1}" HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export FAKEZOO_CACHE="$OUT/cache"

if [ "$DRY" = 1 ]; then
  # every size shrunk: 12 rows on 24 images of 64 px at 32 px (75 for Inception), one trial
  PER_CLASS=12; SOURCE=64; TRIALS=1; EPOCHS=1; IMAGE_SIZE=32
  PRED=(--images 12 --source-size 64 --image-size 32 --repeats 1 --ceiling-images 12
        --memory-images 0 --threads 1)
  DEVICE=cpu
else
  PER_CLASS=5000; SOURCE=256; TRIALS=20; EPOCHS=3; IMAGE_SIZE=""
  PRED=(--images 2000 --repeats 3 --ceiling-images 2000 --memory-images 10000)
  DEVICE=auto
fi

ROWS=()
FAILED=0
step() {  # step NAME FIGURE-PATTERN -- command...
  local name="$1" pattern="$2"; shift 3
  local log="$OUT/logs/$name.log" start end status figure
  echo "== $name: $*" >&2
  start=$(date +%s%N)
  "$@" >"$log" 2>&1
  status=$?
  end=$(date +%s%N)
  figure=$(grep -E -m3 "$pattern" "$log" | tr -s ' ' | paste -sd ';' - | cut -c1-110)
  if [ $status -ne 0 ]; then FAILED=1; figure="exit $status, see $log: $(tail -n1 "$log" | cut -c1-80)"; fi
  ROWS+=("$(printf '%-10s | %-4s | %8s | %s' "$name" "$([ $status = 0 ] && echo ok || echo FAIL)" \
    "$(( (end - start) / 1000000000 )).$(( (end - start) / 100000000 % 10 ))" "$figure")")
}

device_line=$("$PY" - <<'EOF'
import torch
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"{p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, "
          f"CUDA {torch.version.cuda}")
else:
    print(f"no CUDA device: CPU, torch {torch.__version__}, {torch.get_num_threads()} threads")
EOF
)

step data "wrote|images" -- "$PY" -m fakezoo.cli demo-data "$OUT/data" --n-per-class "$PER_CLASS" \
  --image-size "$SOURCE"
STUDY=("$PY" -m fakezoo.cli benchmark "$OUT/data" --trials "$TRIALS" --epochs "$EPOCHS"
       --no-pretrained --out "$OUT/study" --device "$DEVICE")
[ -n "$IMAGE_SIZE" ] && STUDY+=(--image-size "$IMAGE_SIZE")
step study "rows|elapsed" -- "${STUDY[@]}"
step predict "^speed-up|^ceiling|^peak" -- "$PY" "$ROOT/benchmarks/predict_speed.py" "${PRED[@]}" \
  --device "$DEVICE" --workdir "$OUT/predict"
step cuda-tests "passed|skipped|failed" -- "$PY" -m pytest -q -p no:cacheprovider -m cuda \
  "$ROOT/tests/test_cuda.py"

echo
echo "fakezoo device check ($([ "$DRY" = 1 ] && echo 'DRY RUN, sizes shrunk' || echo full)): $device_line"
echo "outputs: $OUT"
printf '%-10s | %-4s | %8s | %s\n' step ok seconds "figures"
printf '%s\n' "-----------+------+----------+---------------------------------------------"
printf '%s\n' "${ROWS[@]}"
exit $FAILED
