#!/usr/bin/env bash
# ResNet-50 training speed on one GPU under KERAS_BACKEND=jax: the issue-7 measurement.
#
# Made for the GPU machine this project is sometimes lent (an H100 or H200 with JAX and no
# TensorFlow), run from the repository root through the device tool, with Keras and
# its two missing dependencies carried as wheels in .whl/ (benchmarks/README.md says
# how to fetch them). It writes JSON and a log into $OUT (or runs/bench-gpu):
#
#   1. ours and keras.applications side by side at batch 256, 224x224,
#      mixed_bfloat16, XLA on, training and inference, with the fraction of the compute
#      ceiling (--peak-tflops): the figure the issue asks for, so it runs first;
#   2. our model at the other batch sizes (training only), to find the best one;
#   3. if time is left: batch 256 with one step per execution instead of the recipe's
#      16, to see what steps_per_execution buys.
#
# Each run gets at most what is left of DEADLINE seconds and none starts with under
# 45 s left, so the whole script ends within DEADLINE (default 330 s) plus a few
# seconds, about 5 minutes of device time after the machine's start.
set -u -o pipefail

OUT=${OUT:-runs/bench-gpu}
MAIN_BATCH=${MAIN_BATCH:-256}
OTHER_BATCHES=${OTHER_BATCHES:-"128 512"}
PEAK_TFLOPS=${PEAK_TFLOPS:-790}   # dense bf16 of an H100 SXM / H200
DEADLINE=${DEADLINE:-330}         # seconds from the start of this script
mkdir -p "$OUT"
LOG="$OUT/gpu_bench.log"
exec > >(tee -a "$LOG") 2>&1

WHEELS=${WHEELS:-.whl}            # the carried wheels (none: use what is installed)
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$WHEELS"/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD"
export KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1

echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version,memory.total \
      --format=csv,noheader 2>/dev/null)"
python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)" \
    || exit 1

COMMON=(--image-size "${IMAGE_SIZE:-224}" --precision mixed_bfloat16 --xla on --peak-tflops "$PEAK_TFLOPS")
bench() {  # bench SECONDS ARGS...: one run, its time limit cut to what is left
    local limit=$1 left=$((DEADLINE - SECONDS)); shift
    if (( left < 45 )); then echo "== skipped (${left}s left): $*"; return 1; fi
    (( limit > left )) && limit=$left
    echo "== $(date -u +%T) (limit ${limit}s) python -m resnet_lab bench $*"
    timeout "$limit" python3 -m resnet_lab bench "$@"
}

# 1. Both models, interleaved, training and inference.
bench 200 "${COMMON[@]}" --batch-size "$MAIN_BATCH" --steps 48 --warmup 16 --repeats 3 \
    --json "$OUT/both_b$MAIN_BATCH.json"

# 2. Our model at the other batch sizes, training only, shorter.
for batch in $OTHER_BATCHES; do
    bench 100 "${COMMON[@]}" --batch-size "$batch" --models ours --no-inference \
        --steps 32 --warmup 16 --repeats 2 --json "$OUT/ours_b$batch.json"
done

# 3. What steps_per_execution buys: one step per call.
bench 90 "${COMMON[@]}" --batch-size "$MAIN_BATCH" --models ours --no-inference \
    --steps-per-execution 1 --steps 32 --warmup 4 --repeats 2 --json "$OUT/ours_spe1_b$MAIN_BATCH.json"

# The best batch size among the runs that finished.
python3 - "$OUT" <<'PY'
import glob, json, sys
rows = []
for path in sorted(glob.glob(f"{sys.argv[1]}/*.json")):
    run = json.load(open(path))
    for name, entry in run["models"].items():
        if "training" in entry:
            t = entry["training"]
            rows.append((t["images_per_second"], name, run["batch_size"],
                         run["steps_per_execution"], t.get("ceiling_fraction", float("nan")), path))
for rate, name, batch, spe, fraction, path in sorted(rows, reverse=True):
    print(f"{rate:8.0f} img/s  {name:5}  batch {batch:4}  spe {spe:2}  "
          f"{100 * fraction:4.1f}% of the ceiling  {path}")
PY

echo "== $(date -u +%T) done in ${SECONDS}s; files in $OUT:"
ls -l "$OUT"
