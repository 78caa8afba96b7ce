# The README's commands. Each target does its own set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch: the CPU build (installs from local disk here). GPU users: see README.
TORCH  ?= torch==2.13.0
NATIVE := $(wildcard engine/native/*.cpp engine/native/*.h)

.PHONY: install install-gpu demo test bench lint clean

install: $(STAMP)

# The GPU backends (ort-cuda, ort-trt, trt) over the CPU install: onnxruntime-gpu replaces
# onnxruntime (the two cannot share an environment). GPU_STACK names requirements/gpu-*.txt.
GPU_STACK ?= cu13-trt11
install-gpu: install
	test -f requirements/gpu-$(GPU_STACK).txt || { echo "no requirements/gpu-$(GPU_STACK).txt"; exit 1; }
	$(BIN)/pip uninstall -q -y onnxruntime
	$(BIN)/pip install -q -r requirements/gpu-$(GPU_STACK).txt

$(STAMP): pyproject.toml CMakeLists.txt $(NATIVE)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q "scikit-build-core>=0.10" "nanobind>=2.0" "cmake>=3.18" ninja
	$(BIN)/pip install -q --no-build-isolation -e ".[train,test,cluster]"
	touch $(STAMP)

demo: install
	$(BIN)/dancenow demo

test: install
	$(BIN)/python -m pytest -q

# The last (GStreamer on both ends) needs root and GStreamer: without them it says why, and
# the rest stands.
bench: install
	$(BIN)/python -m benchmarks.label_map
	$(BIN)/python -m benchmarks.runners
	$(BIN)/python -m benchmarks.pipeline
	$(BIN)/python -m benchmarks.capacity
	$(BIN)/python -m benchmarks.serve
	$(BIN)/python -m benchmarks.serve --compute-permits 0
	$(BIN)/python -m benchmarks.batcher
	$(BIN)/python -m benchmarks.browser
	$(BIN)/python -m benchmarks.reliability
	$(BIN)/python -m benchmarks.audience
	$(BIN)/python -m benchmarks.av_sync
	$(BIN)/python -m benchmarks.prediction
	$(BIN)/python -m benchmarks.motion_lag
	$(BIN)/python -m benchmarks.browser_lag
	-$(BIN)/python -m benchmarks.interop --out benchmarks/results

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf build $(VENV) .pytest_cache

# ---- the demo avatar: cpu-live trained on the synthetic target actor ---------------------
# Six motions (two seeds each) to train on; two motions never seen in training to evaluate.
# `dancenow avatar create` does the rest in one resumable job (run it again after an
# interruption): prepare, time the stages, train (cpu-rt global 13500 steps, temporal 1500
# from it, then cpu-live thinned from that run and fine-tuned 2500 steps while it also
# learns that run's output (distillation), its face stage 3000), export, evaluate on the
# held-out motions, report. BUDGET=45m fits it to a time.
# Work folder: $(AVATAR_DIR) (data/, heldout/, run-cpu-rt/, run/, job.json).
AVATAR_DIR      ?= out/avatar
AVATAR_BUNDLE   ?= out/avatars/demo-live
TRAIN_MOTIONS   := idle wave squat kick turn approach
HELDOUT_MOTIONS := sidestep dance
BUDGET          ?=
DN              := $(BIN)/dancenow
TRAIN_CLIPS     := $(foreach m,$(TRAIN_MOTIONS),$(AVATAR_DIR)/clips/$(m)-1.mp4 $(AVATAR_DIR)/clips/$(m)-2.mp4)
HELDOUT_CLIPS   := $(foreach m,$(HELDOUT_MOTIONS),$(AVATAR_DIR)/clips/heldout-$(m).mp4)

.PHONY: avatar-data avatar
avatar-data: install
	mkdir -p $(AVATAR_DIR)/clips
	for m in $(TRAIN_MOTIONS); do for s in 1 2; do \
	  test -f $(AVATAR_DIR)/clips/$$m-$$s.mp4 || $(DN) -q synth --actor target --motion $$m \
	    --seconds 15 --seed $$s -o $(AVATAR_DIR)/clips/$$m-$$s.mp4 || exit 1; done; done
	for m in $(HELDOUT_MOTIONS); do \
	  test -f $(AVATAR_DIR)/clips/heldout-$$m.mp4 || $(DN) -q synth --actor target --motion $$m \
	    --seconds 10 --seed 7 -o $(AVATAR_DIR)/clips/heldout-$$m.mp4 || exit 1; done

avatar: avatar-data
	$(DN) avatar create $(TRAIN_CLIPS) --heldout $(HELDOUT_CLIPS) --preset cpu-live \
	  -o $(AVATAR_BUNDLE) --work $(AVATAR_DIR) $(if $(BUDGET),--budget $(BUDGET))

# The paper's ablation on the same data: each stage of the avatar's chain (the cpu-rt global
# stage, then the cpu-live temporal and face stages trained from it).
.PHONY: ablation
ablation: avatar
	$(BIN)/python -m benchmarks.quality --data $(AVATAR_DIR)/heldout --split all \
	  --run $(AVATAR_DIR)/run --global-run $(AVATAR_DIR)/run-cpu-rt
