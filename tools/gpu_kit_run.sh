#!/usr/bin/env bash
# On the lent GPU (see tools/gpu_kit.py): install the kit's wheels, point adlib at the kit's data and commit,
# check the kit serves the rows' cells, train them (tools/mtd_methods.py run; the --only rows side by side) under a
# deadline, and pack every results.json written into $OUT/results.tar.gz.
#   usage (repo root, .gpu_kit carried; its other parts staged by the calls just before): bash tools/gpu_kit_run.sh DEADLINE_S ROWS_FILE [--only LABEL ...] [--workers N]
# DEADLINE_S bounds the training only: keep it ≤ the call's timeout_s − 150 (install, CUDA start, checks, the 30-s
# kill grace, packing: results live under docs/, so a call stopped before the tar returns none). Trainings get one
# CPU thread each (the GPU computes) unless ADLIB_THREADS is given.
set -u
deadline=$1; rows=$2; shift 2
kit=.gpu_kit
[ -f $kit/COMMIT ] || { echo "no $kit/COMMIT: run 'python tools/gpu_kit.py prepare' here and carry .gpu_kit"; exit 2; }
# a kit in parts (prepare --parts N): the calls before this one staged the other parts under /tmp
python3 tools/gpu_kit.py join || exit 6
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $kit/whl/*.whl || exit 3
export PYTHONPATH=$PWD:/tmp/site ADLIB_DATA=$PWD/$kit/data ADLIB_GIT_COMMIT=$(cat $kit/COMMIT) PYTHONUNBUFFERED=1
export OUT=${OUT:-/tmp/gpu_kit_out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>&1 | tee "$OUT/gpu.txt"
python3 -c "import torch, geomloss, adlib; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" || exit 4
only=(); workers=()
while [ $# -gt 0 ]; do
  case $1 in
    --only) shift; while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do
              dup=0; for l in ${only[@]+"${only[@]}"}; do [ "$l" = "$1" ] && dup=1; done
              [ $dup = 1 ] || only+=("$1"); shift; done  # a label named twice runs once
            [ ${#only[@]} -gt 0 ] || { echo "--only needs row labels"; exit 2; } ;;
    --workers) workers=(--workers "$2"); shift 2 ;;
    *) echo "unknown argument $1"; exit 2 ;;
  esac
done
sel=(); [ ${#only[@]} -gt 0 ] && sel=(--only "${only[@]}")
python3 tools/gpu_kit.py verify --rows "$rows" "${sel[@]}" || exit 5
# each row's data root, all before any row starts: the kit's MTD with the masks its cells resize (nearest /
# bilinear; a second interpolation's root is joined under /tmp); a kit of several needs the rows named
roots=()
if [ ${#only[@]} -gt 0 ]; then
  for label in "${only[@]}"; do roots+=("$(python3 tools/gpu_kit.py data-root --rows "$rows" --only "$label")") || exit 5; done
else
  python3 -c "import json, sys; sys.exit(len(json.load(open('$kit/kit.json')).get('mask_interpolations', [1])) > 1)" \
    || { echo "this kit serves several mask interpolations: name the rows with --only (each gets its data root)"; exit 2; }
fi
stamp=$(mktemp); sleep 1
# `mtd_methods.py run` trains row after row: with --only, one process per row, side by side, so a short row does
# not wait for a long one (each row's seeds share its --workers); without it, the rows in turn.
export ADLIB_THREADS=${ADLIB_THREADS:-1}  # the GPU computes; a CPU thread per training (an ADLIB_THREADS given wins)
# how far each training got (a row the deadline stops leaves no results file) and what bounded it: a heartbeat line
# per training every 30 s in its row's log, and GPU use / load every 30 s in monitor.txt
export ADLIB_HEARTBEAT_S=${ADLIB_HEARTBEAT_S:-30}
( while sleep 30; do echo "$(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg) gpu $(nvidia-smi \
    --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>&1)"; done ) > "$OUT/monitor.txt" 2>&1 &
monitor=$!
rc=0; pids=(); rcs=()
trap 'kill $monitor ${pids[@]+"${pids[@]}"} 2>/dev/null' EXIT  # nothing left running if this script stops early
if [ ${#only[@]} -gt 0 ]; then
  for i in "${!only[@]}"; do
    label=${only[$i]}
    ADLIB_DATA=${roots[$i]} timeout --signal=TERM --kill-after=30 "$deadline" python3 tools/mtd_methods.py --rows "$rows" \
      run "${workers[@]}" --only "$label" > "$OUT/log_${label//[^A-Za-z0-9_.-]/_}.txt" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do wait "${pids[$i]}"; rcs[$i]=$?; [ "${rcs[$i]}" -gt "$rc" ] && rc=${rcs[$i]}; done
  tail -n 5 "$OUT"/log_*.txt; tail -n 3 "$OUT/monitor.txt"
  for i in "${!pids[@]}"; do echo "row ${only[$i]}: rc ${rcs[$i]}"; done  # 124 / 137: stopped at the deadline
else
  timeout --signal=TERM --kill-after=30 "$deadline" python3 tools/mtd_methods.py --rows "$rows" run "${workers[@]}" \
    > "$OUT/log.txt" 2>&1
  rc=$?; tail -n 20 "$OUT/log.txt"
fi
kill $monitor 2>/dev/null
find docs -name results.json -newer "$stamp" > "$OUT/new_results.txt"
tar czf "$OUT/results.tar.gz" -T "$OUT/new_results.txt"
echo "rc $rc (the largest; 124 / 137: the deadline stopped a row); $(wc -l < "$OUT/new_results.txt") results files packed in results.tar.gz"
exit "$rc"
