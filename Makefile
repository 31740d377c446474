# CiteDesk — the targets the README names.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: install demo test test-fast lint lean bench bench-own-docs bench-scale report screenshots gate clean

# The tests need every extra: [st] (the sentence-transformers embedder), [train] (the query
# adapter's training), [eval] (the ragas metrics), [ollama] (the LLM composer on Ollama's API).
# A user's `pip install .` takes none of them.
EXTRAS := dev,st,train,eval,ollama

$(STAMP): pyproject.toml
	@echo "== Installing CiteDesk and its dependencies into $(VENV): 2 to 5 minutes (torch, chromadb, ...); pip names each package"
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -e '.[$(EXTRAS)]'
	touch $(STAMP)
	@echo "== Installed into $(VENV)"

install: $(STAMP)

# Build the demo knowledge base, load the demo Q&A set, print new demo logins and keys once, and
# serve on 127.0.0.1:$(PORT) (make demo PORT=8123 for another port), with the demo bundle loaded (its complaint rules).
demo: install
	@echo "== 1/4 Building the demo knowledge base: about 7 minutes the first time (up to 20 on a busy machine); unchanged files are skipped after that"
	$(BIN)/citedesk demo build
	@echo "== 2/4 Loading the demo Q&A set for the trainer pages, and three sample searches"
	$(BIN)/citedesk demo qasets
	$(BIN)/citedesk demo show
	@echo "== 3/4 Demo logins and API keys: new passwords and keys on every run (the previous demo ones stop working)"
	$(BIN)/citedesk demo accounts
	@echo "== 4/4 Serving. Open http://127.0.0.1:$(PORT)/sidebar (sign in with a demo account above); API docs at /docs"
	CITEDESK_BUNDLES=$${CITEDESK_BUNDLES:-credit_cs:regulations_zh:lay_questions_zh:demo} \
		$(BIN)/citedesk serve --host 127.0.0.1 --port $(PORT)

# Everything, the slow and browser tests included (what CI runs).
test: install
	$(BIN)/python -m pytest -q

# The fast suite, for working on the code (a few minutes).
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not browser"

# What a default `pip install .` would install (pip resolves it as a dry run): no torch, no
# sentence-transformers, no peft, no ragas, no langchain-community. Part of `make test` too.
lean: install
	$(BIN)/python -m pytest -q tests/test_dependencies.py

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python -m evals.bench

# Answers on documents nobody keyed (docs/benchmarks.md, "Answers on a company's own documents"):
# LeCoQA's unseen laws alone, beside the demo knowledge base, and after grading a third; about 15 minutes.
bench-own-docs: install
	$(BIN)/citedesk demo build --data-dir $(GATE_DIR)
	$(BIN)/citedesk bench own-docs --demo-dir $(GATE_DIR) --work data/bench/own-docs

# A shared deployment under load (docs/benchmarks.md, "Serving a contact centre"): starts a Chroma
# server, uses PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379; about 25 minutes.
SCALE_DIR ?= data/bench-scale
bench-scale: install
	$(BIN)/citedesk demo build --data-dir $(GATE_DIR)
	$(BIN)/python -m evals.bench_scale --demo-dir $(GATE_DIR) --work-dir $(SCALE_DIR)

# Regenerate the checked-in example report of the demo Q&A set (docs/eval-report-demo.md).
report: install
	$(BIN)/citedesk demo build --data-dir $(GATE_DIR)
	rm -rf $(GATE_DIR)/report
	$(BIN)/citedesk eval evals/sets/demo.yaml --data-dir $(GATE_DIR) --report $(GATE_DIR)/report --fail-under $(GATE_MIN)
	cp $(GATE_DIR)/report/demo.md docs/eval-report-demo.md

# Regenerate the README screenshots in docs/images/.
screenshots: install
	$(BIN)/python -m ui.screenshots --out docs/images

clean:
	rm -rf $(VENV) data .pytest_cache

# The accuracy gate CI runs: the demo Q&A set on the demo knowledge base.
GATE_DIR ?= data/gate
GATE_MIN = hit@5=0.95,accuracy=0.85
gate: install
	$(BIN)/citedesk demo build --data-dir $(GATE_DIR)
	$(BIN)/citedesk eval evals/sets/demo.yaml --data-dir $(GATE_DIR) --report $(GATE_DIR)/report \
		--fail-under $(GATE_MIN)
