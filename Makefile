# The README's commands. Each target does its own set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch: the CPU build (installs from local disk here). GPU users: see README.
TORCH  ?= torch==2.13.0
NATIVE := $(wildcard engine/native/*.cpp engine/native/*.h)

.PHONY: install demo test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml CMakeLists.txt $(NATIVE)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q "scikit-build-core>=0.10" "nanobind>=2.0" "cmake>=3.18" ninja
	$(BIN)/pip install -q --no-build-isolation -e ".[train,test]"
	touch $(STAMP)

demo: install
	$(BIN)/dancenow demo

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m benchmarks.label_map
	$(BIN)/python -m benchmarks.runners
	$(BIN)/python -m benchmarks.pipeline
	$(BIN)/python -m benchmarks.serve

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf build $(VENV) .pytest_cache

# ---- the demo avatar: the cpu-rt preset trained on the synthetic target actor ----------
# Six motions (two seeds each) to train on; two motions never seen in training to evaluate.
AVATAR_DIR      ?= out/avatar
TRAIN_MOTIONS   := idle wave squat kick turn approach
HELDOUT_MOTIONS := sidestep dance
AVATAR_ITERS    ?= 4500
DN              := $(BIN)/dancenow

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
	$(DN) train $(AVATAR_DIR)/data -o $(AVATAR_DIR)/run --preset cpu-rt --stage temporal \
	  --iters $(AVATAR_ITERS) $(if $(wildcard $(AVATAR_DIR)/run/checkpoint-temporal.pt),--resume)
	$(DN) train $(AVATAR_DIR)/data -o $(AVATAR_DIR)/run --preset cpu-rt --stage face \
	  --iters $(AVATAR_ITERS) $(if $(wildcard $(AVATAR_DIR)/run/checkpoint-face.pt),--resume)
	$(DN) eval $(AVATAR_DIR)/run --data $(AVATAR_DIR)/heldout --split all \
	  -o $(AVATAR_DIR)/run/heldout_metrics.json

# The paper's ablation on the same data: a global-only run beside the avatar's run.
.PHONY: ablation
ablation: avatar
	$(DN) train $(AVATAR_DIR)/data -o $(AVATAR_DIR)/run-global --preset cpu-rt --stage global \
	  --iters $(AVATAR_ITERS) $(if $(wildcard $(AVATAR_DIR)/run-global/checkpoint-global.pt),--resume)
	$(BIN)/python -m benchmarks.quality --data $(AVATAR_DIR)/heldout --split all \
	  --global-run $(AVATAR_DIR)/run-global --run $(AVATAR_DIR)/run
