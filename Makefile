# The two set-up commands of the README. Each creates .venv when missing and
# installs chatsim (editable) with what it needs; re-installs when pyproject changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/chatsim scenarios
	$(BIN)/chatsim compare crash-mid-send --seed 1 --out runs/demo
	@echo "open runs/demo/report.html"

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

bench: $(STAMP)
	$(BIN)/chatsim bench

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
