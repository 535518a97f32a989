#!/usr/bin/env bash
# Run convbench on the lent GPU machine (see ../shared/gpu/README.md), one step per call:
#   scripts/gpu-sweep.sh setup              install convbench (no deps) and export the PyTorch side there
#   scripts/gpu-sweep.sh bench RUNTIMES...  time those runtimes into $RUN_DIR (resumes across calls)
#   scripts/gpu-sweep.sh report             write the report and pack the run directory into $OUT
# Keras ONNX files come from a CPU machine (TensorFlow does not run there): .gpu/keras/keras-onnx.tgz holds
# artifacts/onnx/keras and the manifest. Expects PYTHONPATH to include the carried wheels (/tmp/site).
set -euo pipefail
RUN_DIR=${RUN_DIR:-/tmp/convbench-run}
SWEEP=${SWEEP:-}
TIMING=${TIMING:-"--warmup-seconds 0.3 --sample-seconds 0.05 --budget-seconds 0.8 --min-samples 5 --profile"}
export PYTHONUNBUFFERED=1
case "$1" in
  setup)
    python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . 2>&1 | tail -2
    mkdir -p artifacts && tar xzf /tmp/keras-onnx.tgz -C artifacts
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    KERAS_BACKEND=jax python3 -c "import onnxruntime as o, keras, jax, torch; print(o.__version__, o.get_available_providers(), keras.__version__, jax.devices(), torch.__version__)"
    convbench export --sources torch $SWEEP
    ;;
  bench)
    shift
    convbench bench --device cuda $SWEEP --run-dir "$RUN_DIR" --runtimes "$@" $TIMING
    ;;
  report)
    convbench report "$RUN_DIR"
    tar czf "$OUT/run.tgz" -C "$(dirname "$RUN_DIR")" "$(basename "$RUN_DIR")"
    ;;
esac
