# equity-outcomes: two commands do all set-up.
#   make demo   create .venv, install, generate the synthetic network, run the yearly flow end to end
#   make test   create .venv, install (and Chromium, R and Java for their tests when root), lint, run every test
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_LEVEL := WARNING

.PHONY: demo test lint browser r java benchmark benchmark-scale benchmark-dese benchmark-growth clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 is required, found {sys.version.split()[0]}"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev,spark]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/equity-outcomes demo

browser:
	@{ command -v chromium && command -v pdftoppm; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium and poppler-utils for the browser and PDF tests (apt) ..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils >/dev/null) \
	      || echo "warning: could not install chromium/poppler-utils; browser and PDF tests will be skipped"; \
	  else echo "chromium or poppler-utils is missing and this is not root: browser and PDF tests will be skipped" \
	    "(apt-get install chromium poppler-utils)"; fi; }

r:
	@Rscript -e 'library(quantreg); library(splines)' >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing R with quantreg for the SGP comparison test (apt) ..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq r-base-core r-cran-quantreg \
	      r-cran-splines2 >/dev/null) || echo "warning: could not install R; the SGP comparison with R will be skipped"; \
	  else echo "R with quantreg is missing and this is not root: the SGP comparison with R will be skipped"; fi; }

java:
	@command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Java 17 for the Spark engine tests (apt) ..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless \
	      >/dev/null) || echo "warning: could not install Java; the Spark engine tests will be skipped"; \
	  else echo "Java is missing and this is not root: the Spark engine tests will be skipped (apt-get install openjdk-17-jre-headless)"; fi; }

lint: $(STAMP)
	$(BIN)/ruff check $(wildcard src pipelines tests benchmarks notebooks/*.py)

# the suite on every core, at most 4 (pytest-xdist; each worker makes its own session fixtures): on this 2-core
# machine 870 s at load 3-3.7 against 1,164 s on one core at load 1.1-1.7. `pytest -n 0` runs it on one.
test: $(STAMP) browser r java lint
	$(BIN)/pytest -q -n auto --maxprocesses 4

# the flow against its full-fidelity floor, per stage, plus the +1 year run (#22): make benchmark SIZES=1000000
SIZES ?= 200000
benchmark: $(STAMP)
	$(BIN)/python benchmarks/floor_vs_flow.py --sizes $(SIZES) --incremental

benchmark-scale: $(STAMP)
	$(BIN)/python benchmarks/run_benchmark.py

benchmark-dese: $(STAMP)
	$(BIN)/python benchmarks/dese_exports.py

benchmark-growth: $(STAMP)
	$(BIN)/python benchmarks/growth_benchmark.py

clean:
	rm -rf $(VENV) data/processed/*.duckdb* dashboards/*.html data/raw/demo
