# The two set-up commands of the README. Each creates .venv when missing and
# installs chatsim (editable) with what it needs; re-installs when pyproject changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow bench mutate clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/chatsim scenarios
	$(BIN)/chatsim compare crash-mid-send --seed 1 --out runs/demo
	@echo "open runs/demo/report.html"

# the suite a developer runs (a few minutes on 2 cores); CI runs test-slow after it
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadscope -m "not slow"

# the long acceptance runs (regress over every built-in, the plugin over every built-in, ...)
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadscope -m slow

# mutation testing (mutmut) of the checkers and the send paths; slow, not part of
# `make test`; scores and surviving mutants are in docs/testing.md
mutate: $(STAMP)
	$(BIN)/python mutate/run.py invariants send
	$(BIN)/python mutate/planted.py  # the bugs issue 18 names, each killed by its named tests

bench: $(STAMP)
	$(BIN)/chatsim bench

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis build/mutate
