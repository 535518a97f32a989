#!/usr/bin/env bash
# keras-tf and keras-predict timed and profiled on a CPU with many cores: do predict's kernels cost what keras-tf's
# do once predict's own threads (its dataset and iterator) have cores of their own? On the 2-core development
# machine they compete with the compute threads. Made for the lent GPU machine's 16 cores, with TensorFlow-CPU
# carried there as wheels (../shared/gpu/stage-wheels.sh with WHEELS naming tensorflow-cpu and its missing
# dependencies); run from the project's root with PYTHONPATH holding the wheels:
#   scripts/keras-many-cores.sh setup          install convbench (no deps), export the PyTorch side (the reference
#                                              outputs every runtime's parity is checked against)
#   scripts/keras-many-cores.sh bench THREADS  time and profile both runtimes with THREADS intra-op threads into
#                                              /tmp/keras-<THREADS>t, packed into $OUT/keras-<THREADS>t.tgz
set -euo pipefail
export PYTHONUNBUFFERED=1 KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3
step=$1
shift
case "$step" in
  setup)
    python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . 2>&1 | tail -2
    python3 -c "import os, tensorflow as tf, keras; print('tensorflow', tf.__version__, 'keras', keras.__version__, 'cores', os.cpu_count())"
    lscpu | grep -E "Model name|^CPU\(s\)|Thread\(s\) per core"
    convbench export --sources torch
    ;;
  bench)
    run=/tmp/keras-$1t
    status=0
    convbench bench --device cpu --runtimes keras-tf keras-predict --profile --threads "$1" --run-dir "$run" || status=$?
    tar czf "$OUT/keras-$1t.tgz" -C /tmp "keras-$1t"
    exit $status
    ;;
esac
