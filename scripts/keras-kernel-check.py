"""Do keras-predict's kernels cost what keras-tf's do? Both runtimes, as convbench's runners prepare them, in one
process, their profiled forwards interleaved (tf, predict, tf, ...) so that the machine's drift reaches both alike.

The sweep profiles each case in its own pass, seconds to minutes apart; on a small, shared machine the same
kernels' time moves by more than the difference looked for between those passes. Here every round profiles
keras-tf twice (A, then B after predict) and keras-predict once, one forward per TensorFlow profiler session as
the sweep does, for at least --rounds rounds and --seconds per stack. Per stack it reports the medians over
rounds: the predict/tf kernel ratio, and tf-B/tf-A, the agreement of keras-tf with itself, which is the floor
under any comparison of two profiled passes. On two cores the alternation has a bias of its own: predict's trailing
work slows the keras-tf forward that follows it (docs/results/cpu-16core-keras/NOTES.md).

    python scripts/keras-kernel-check.py [--channels 8 16 32 64] [--variants ...] [--rounds 7] [--seconds 3]
                                         [--out check.csv]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from convbench.artifacts import Artifacts  # noqa: E402
from convbench.models.variants import VARIANTS  # noqa: E402
from convbench.runners.keras_runner import KerasPredict, KerasTFFunction  # noqa: E402
from convbench.runners.profile_tf import tf_profiled_forward  # noqa: E402
from convbench.runners.profilers import settle  # noqa: E402
from convbench.spec import DEFAULT_CHANNELS, Case, SeedStack  # noqa: E402


def kernel_ms(forward, scope: str) -> float:
    session = tf_profiled_forward(forward, scope)
    if isinstance(session, str):
        sys.exit(f"keras-kernel-check: {session}")
    return sum(float(op["total_self_time"]) for op in session[1]) / 1e3


def check(spec: SeedStack, rounds: int, seconds: float, threads: int) -> dict[str, object]:
    artifacts = Artifacts(Path("artifacts"))
    tf_prepared = KerasTFFunction(threads).prepare(Case(spec, "keras-tf", "keras", "cpu"), artifacts)
    tf_forward = tf_prepared.forward
    predict_forward = KerasPredict(threads).prepare(Case(spec, "keras-predict", "keras", "cpu"), artifacts).forward
    scope = str(tf_prepared.options["model_name"])  # the name scope of the model's ops
    settle(tf_forward, forwards=3, seconds=0.3)
    settle(predict_forward, forwards=3, seconds=0.3)
    tf_a, predict, tf_b = [], [], []
    start = time.perf_counter()
    while len(predict) < rounds or time.perf_counter() - start < seconds:
        tf_a.append(kernel_ms(tf_forward, scope))
        predict.append(kernel_ms(predict_forward, scope))
        tf_b.append(kernel_ms(tf_forward, scope))
    tf_ms = statistics.median(tf_a + tf_b)
    predict_ms = statistics.median(predict)
    return {"stack_id": spec.stack_id, "rounds": len(predict), "keras_tf_kernel_ms": round(tf_ms, 3),
            "keras_predict_kernel_ms": round(predict_ms, 3), "predict_over_tf": round(predict_ms / tf_ms, 3),
            "tf_b_over_tf_a": round(statistics.median(tf_b) / statistics.median(tf_a), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--channels", nargs="+", type=int, default=list(DEFAULT_CHANNELS))
    parser.add_argument("--rounds", type=int, default=7, help="at least this many rounds per stack...")
    parser.add_argument("--seconds", type=float, default=3.0, help="...and at least this long (small stacks get more)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--tolerance", type=float, default=0.15, help="agreement asked for (0.15: within 15%%)")
    parser.add_argument("--out", type=Path, help="also write the table as CSV here")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    rows = []
    print(f"{'stack':34s} {'keras-tf ms':>11s} {'predict ms':>10s} {'predict/tf':>10s} {'tf B/A':>7s}")
    for variant in args.variants:
        for channels in args.channels:
            row = check(SeedStack(variant, channels), args.rounds, args.seconds, args.threads)
            rows.append(row)
            print(f"{row['stack_id']:34s} {row['keras_tf_kernel_ms']:11.2f} {row['keras_predict_kernel_ms']:10.2f} "
                  f"{row['predict_over_tf']:10.3f} {row['tf_b_over_tf_a']:7.3f}", flush=True)
    if args.out:
        with args.out.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    def within(key: str) -> int:
        return sum(abs(float(r[key]) - 1) <= args.tolerance for r in rows)

    ratios = sorted(float(r["predict_over_tf"]) for r in rows)
    print(f"predict/tf within {args.tolerance:.0%}: {within('predict_over_tf')} of {len(rows)} "
          f"(median {statistics.median(ratios):.3f}, {ratios[0]:.2f}-{ratios[-1]:.2f}); "
          f"keras-tf B/A within {args.tolerance:.0%}: {within('tf_b_over_tf_a')} of {len(rows)}")


if __name__ == "__main__":
    main()
