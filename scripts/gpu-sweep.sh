#!/usr/bin/env bash
# Run convbench on the lent GPU machine (see ../shared/gpu/README.md), one step per call; the run directory lives
# in /tmp there, so the steps of one sweep go back to back on one warm machine and each call packs a checkpoint:
#   scripts/gpu-sweep.sh setup                  install convbench (no deps), unpack the Keras ONNX files (exported on a
#                                               CPU machine: TensorFlow does not run there) from $KERAS_TGZ if it is
#                                               there, export the PyTorch side in every dtype of $DTYPES
# $SWEEP holds the sweep flags that export and bench share (default: the seed's stacks), e.g.
#   SWEEP="--networks mobilenet_v2 resnet50 efficientnet_b0 --batch 1 32"
#   scripts/gpu-sweep.sh restore                unpack a checkpoint carried in .gpu/run/run.tgz into $RUN_DIR's parent
#   scripts/gpu-sweep.sh ensure                 on a machine that may be fresh: install the carried wheels ($WHEEL_DIR,
#                                               or the parts of stage-wheels.sh) and convbench, export the PyTorch side in
#                                               $DTYPES, and restore the checkpoint, each only if missing
#   scripts/gpu-sweep.sh bench [BENCH FLAGS]    time into $RUN_DIR (resumes), e.g. --runtimes ... --channels 8 64;
#                                               then pack $RUN_DIR into $OUT/run.tgz as a checkpoint; with
#                                               LIMIT_S=N, bench is interrupted (SIGINT: it keeps every row) after
#                                               N seconds, so the checkpoint comes back within one call
#   scripts/gpu-sweep.sh reference [FLAGS]      the hand-written CUDA-event reference (scripts/cuda-event-reference.py)
#   scripts/gpu-sweep.sh pack                   report, reference check, and the run directory into $OUT/run.tgz
# Expects PYTHONPATH to include the carried wheels (/tmp/site).
set -euo pipefail
RUN_DIR=${RUN_DIR:-/tmp/convbench-run}
KERAS_TGZ=${KERAS_TGZ:-/tmp/keras-onnx.tgz}
WHEEL_DIR=${WHEEL_DIR:-.gpu/kwheels}  # wheels carried as they are (keras alone is 3 MB); else .gpu/p*/install.sh
DTYPES=${DTYPES:-"float32 float16 bfloat16"}
SWEEP=${SWEEP:-}
TIMING=${TIMING:-"--processes 2 --warmup-seconds 0.2 --sample-seconds 0.05 --budget-seconds 0.8 --min-samples 3 --profile"}
export PYTHONUNBUFFERED=1
step=$1
shift
case "$step" in
  setup)
    python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . 2>&1 | tail -2
    mkdir -p artifacts
    if [ -f "$KERAS_TGZ" ]; then tar xzf "$KERAS_TGZ" -C artifacts; fi
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
    KERAS_BACKEND=jax python3 -c "import onnxruntime as o, keras, jax, torch, pynvml; print(o.__version__, o.get_available_providers(), keras.__version__, jax.devices(), torch.__version__)"
    convbench export --sources torch --dtype $DTYPES $SWEEP
    ;;
  restore)
    mkdir -p "$(dirname "$RUN_DIR")" && tar xzf .gpu/run/run.tgz -C "$(dirname "$RUN_DIR")"
    ;;
  ensure)
    if [ ! -d /tmp/site/keras ]; then
      if ls "$WHEEL_DIR"/*.whl >/dev/null 2>&1; then
        python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$WHEEL_DIR"/*.whl
      else
        bash "$(ls .gpu/p*/install.sh | sort -V | tail -1)"  # stage-wheels.sh puts it in the last part
      fi
    fi
    command -v convbench >/dev/null || python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . 2>&1 | tail -2
    [ -f artifacts/onnx/manifest.csv ] || convbench export --sources torch --dtype $DTYPES $SWEEP >/dev/null
    if [ ! -d "$RUN_DIR" ] && [ -f .gpu/run/run.tgz ]; then "$0" restore; fi
    ;;
  bench)
    status=0
    timeout -s INT "${LIMIT_S:-0}" convbench bench --device cuda --run-dir "$RUN_DIR" $TIMING $SWEEP "$@" || status=$?
    tar czf "$OUT/run.tgz" -C "$(dirname "$RUN_DIR")" "$(basename "$RUN_DIR")"
    exit $status
    ;;
  reference)
    python3 scripts/cuda-event-reference.py --out "$RUN_DIR/reference.csv" "$@"
    ;;
  pack)
    convbench report "$RUN_DIR"
    if [ -f "$RUN_DIR/reference.csv" ]; then
      python3 scripts/cuda-event-reference.py --check "$RUN_DIR" "$RUN_DIR/reference.csv" | tee "$RUN_DIR/reference-check.txt"
    fi
    tar czf "$OUT/run.tgz" -C "$(dirname "$RUN_DIR")" "$(basename "$RUN_DIR")"
    ;;
esac
