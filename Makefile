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

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf build $(VENV) .pytest_cache
