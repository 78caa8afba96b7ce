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
	-$(BIN)/python -m benchmarks.interop --out benchmarks/results

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf build $(VENV) .pytest_cache

# ---- the demo avatar: the cpu-rt preset trained on the synthetic target actor ----------
# Six motions (two seeds each) to train on; two motions never seen in training to evaluate.
# One run folder, three stages: global (4500 steps, then extended to 9000 and to 13500,
# each extension with a learning-rate schedule of its own), temporal (starts from the
# global generator), face. Then the demo's own run: cpu-live, the temporal generator
# thinned to half its residual blocks and fine-tuned, and a face stage on top of it.
AVATAR_DIR      ?= out/avatar
TRAIN_MOTIONS   := idle wave squat kick turn approach
HELDOUT_MOTIONS := sidestep dance
GLOBAL_ITERS    ?= 4500 9000 13500
TEMPORAL_ITERS  ?= 1500
FACE_ITERS      ?= 3000
DN              := $(BIN)/dancenow
LIVE_ITERS      ?= 2500
RUN             := $(AVATAR_DIR)/run
LIVE_RUN        := $(AVATAR_DIR)/run-live
resume_if        = $$(test -f $(2)/checkpoint-$(1).pt && echo --resume)

.PHONY: avatar-data avatar
avatar-data: install
	mkdir -p $(AVATAR_DIR)/clips
	for m in $(TRAIN_MOTIONS); do for s in 1 2; do \
	  test -f $(AVATAR_DIR)/clips/$$m-$$s.mp4 || $(DN) -q synth --actor target --motion $$m \
	    --seconds 15 --seed $$s -o $(AVATAR_DIR)/clips/$$m-$$s.mp4 || exit 1; done; done
	for m in $(HELDOUT_MOTIONS); do \
	  test -f $(AVATAR_DIR)/clips/heldout-$$m.mp4 || $(DN) -q synth --actor target --motion $$m \
	    --seconds 10 --seed 7 -o $(AVATAR_DIR)/clips/heldout-$$m.mp4 || exit 1; done
	$(DN) prepare $(foreach m,$(TRAIN_MOTIONS),$(AVATAR_DIR)/clips/$(m)-1.mp4 $(AVATAR_DIR)/clips/$(m)-2.mp4) \
	  --size 256 -o $(AVATAR_DIR)/data
	$(DN) prepare $(foreach m,$(HELDOUT_MOTIONS),$(AVATAR_DIR)/clips/heldout-$(m).mp4) \
	  --size 256 -o $(AVATAR_DIR)/heldout

avatar: avatar-data
	for n in $(GLOBAL_ITERS); do \
	  $(DN) train $(AVATAR_DIR)/data -o $(RUN) --preset cpu-rt --stage global --iters $$n \
	    $(call resume_if,global,$(RUN)) || exit 1; done
	$(DN) train $(AVATAR_DIR)/data -o $(RUN) --preset cpu-rt --stage temporal \
	  --iters $(TEMPORAL_ITERS) $(call resume_if,temporal,$(RUN))
	$(DN) train $(AVATAR_DIR)/data -o $(RUN) --preset cpu-rt --stage face \
	  --iters $(FACE_ITERS) $(call resume_if,face,$(RUN))
	$(DN) eval $(RUN) --data $(AVATAR_DIR)/heldout --split all -o $(RUN)/heldout_metrics.json
	$(DN) train $(AVATAR_DIR)/data -o $(LIVE_RUN) --preset cpu-live --stage temporal \
	  --init-from $(RUN) --iters $(LIVE_ITERS) $(call resume_if,temporal,$(LIVE_RUN))
	$(DN) train $(AVATAR_DIR)/data -o $(LIVE_RUN) --preset cpu-live --stage face \
	  --iters $(FACE_ITERS) $(call resume_if,face,$(LIVE_RUN))
	$(DN) eval $(LIVE_RUN) --data $(AVATAR_DIR)/heldout --split all \
	  -o $(LIVE_RUN)/heldout_metrics.json

# The paper's ablation on the same data: each stage of the avatar's run.
.PHONY: ablation
ablation: avatar
	$(BIN)/python -m benchmarks.quality --data $(AVATAR_DIR)/heldout --split all --run $(RUN)
