# convbench: `make export bench` sets up .venv on first use, exports every stack to ONNX and times it.
# Narrow the sweep with ARGS (shared by export and bench), e.g.  make export bench ARGS="--channels 8"
# Bench-only flags go in BENCH_ARGS, e.g.  BENCH_ARGS="--runtimes torch ort"; export-only ones in EXPORT_ARGS, e.g.
# LiteRT:  EXPORT_ARGS="--sources torch.onnx tf2onnx tflite" BENCH_ARGS="--runtimes litert litert-builtin".
# DEVICE=cuda times on the GPU (and measures the library floor: cuDNN's fastest plan per layer).
PYTHON ?= python3
VENV ?= .venv
ARGS ?=
BENCH_ARGS ?=
EXPORT_ARGS ?=
DEVICE ?= cpu
# WHOLE=1: the named sweep of whole networks in place of the seed's stacks (torchvision's and keras.applications'
# MobileNetV2, ResNet-50, EfficientNet-B0 at batch 1 and 32, 224x224; LiteRT included; the forward and, where the
# runtime is native, the training step); WHOLE_MODELS names others,
# e.g. WHOLE_MODELS="resnet50 torchvision:convnext_tiny keras:Xception"
WHOLE ?=
WHOLE_MODELS ?= mobilenet_v2 resnet50 efficientnet_b0
WHOLE_FLAGS = $(if $(WHOLE),--models $(WHOLE_MODELS))
WHOLE_BENCH_FLAGS = $(if $(WHOLE),--pass forward train)
# bench's time in minutes: what its first 3 rounds leave goes to more rounds of the cases whose ranking is undecided
# (TIME_BUDGET= : the first rounds only)
TIME_BUDGET ?= 11
EXTRAS ?= cpu,dev
STAMP := $(VENV)/.installed
CLUSTER_STAMP := $(VENV)/.installed-cluster
# --no-compile: pip would byte-compile every module of TensorFlow, torch and the rest (half the install's time);
# Python compiles and caches the ones a run imports on first use instead
PIP_FLAGS ?= --no-compile
# ... and Python then caches each module as bytecode when a process first imports it, unless the environment says
# PYTHONDONTWRITEBYTECODE=1 (some sandboxes do): then every fresh process compiles TensorFlow's and torch's modules
# from source again (importing tensorflow and keras: 13.5 s instead of 4-5 s on the 2-core machine), and convbench
# starts many fresh processes (repeats, export workers, the tests). Its targets let Python write that cache, into
# .venv and the git-ignored __pycache__ folders.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: export bench inspect report test lint venv clean

venv: $(STAMP)

# The install is quiet unless it fails: pip's output goes to $(VENV)/install.log, shown if pip fails.
$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@echo "installing convbench[$(EXTRAS)] into $(VENV) (log: $(VENV)/install.log)"
	@( $(VENV)/bin/python -m pip install --upgrade pip && $(VENV)/bin/python -m pip install $(PIP_FLAGS) -e '.[$(EXTRAS)]' ) \
		> $(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; echo "install failed: see above"; exit 1; }
	@touch $@

# Ray (the cluster extra), for `bench --cluster` and the tests that start a real local cluster; not for export/bench.
$(CLUSTER_STAMP): $(STAMP)
	@echo "installing convbench[cluster] (Ray) into $(VENV) for the tests (log: $(VENV)/install.log)"
	@$(VENV)/bin/python -m pip install $(PIP_FLAGS) -e '.[cluster]' >> $(VENV)/install.log 2>&1 \
		|| { cat $(VENV)/install.log; echo "install failed: see above"; exit 1; }
	@touch $@

export: $(STAMP)
	$(VENV)/bin/convbench export $(WHOLE_FLAGS) $(if $(WHOLE),--sources torch.onnx tf2onnx tflite) $(ARGS) $(EXPORT_ARGS)

bench: $(STAMP)
	$(VENV)/bin/convbench bench --profile --device $(DEVICE) $(if $(filter cuda,$(DEVICE)),--floor) \
		$(if $(TIME_BUDGET),--time-budget $(TIME_BUDGET)) $(WHOLE_FLAGS) $(WHOLE_BENCH_FLAGS) $(ARGS) $(BENCH_ARGS)

report: $(STAMP)
	$(VENV)/bin/convbench report $(RUN)

inspect: $(STAMP)
	$(VENV)/bin/convbench inspect --all

# The suite in two parts: the tests of mechanics two at a time (pytest-xdist, a test file per worker), then the tests
# marked `figures` (they assert on measured times) alone, so that no other test disturbs what they measure.
# `pytest` by itself runs everything one at a time.
TEST_WORKERS ?= 2
test: $(STAMP) $(CLUSTER_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not figures"
	$(VENV)/bin/python -m pytest -m figures

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf artifacts results
