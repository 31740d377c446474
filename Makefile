# CiteDesk — the targets the README names.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench report screenshots gate clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/citedesk demo build
	$(BIN)/citedesk demo show

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python -m evals.bench

clean:
	rm -rf $(VENV) data .pytest_cache

# The accuracy gate CI runs: the demo Q&A set on the demo knowledge base.
GATE_DIR ?= data/gate
gate: install
	$(BIN)/citedesk demo build --data-dir $(GATE_DIR)
	$(BIN)/citedesk eval evals/sets/demo.yaml --data-dir $(GATE_DIR) --report $(GATE_DIR)/report \
		--fail-under hit@5=0.95,accuracy=0.85
