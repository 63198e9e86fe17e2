# Two commands: `make run` (dashboard on the sample data) and `make test` (every test).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: run test sample bench screenshots clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/streamlit run dashboard.py

test: $(STAMP)
	$(PY) -m pytest -q

sample: $(STAMP)
	$(PY) sample_data/generate.py

bench: $(STAMP)
	$(PY) -m pip install --quiet -r benchmarks/requirements.txt
	$(PY) benchmarks/bench_engine.py

# the tests write screenshots to the git-ignored data/screenshots; this refreshes the README's
screenshots: $(STAMP)
	SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest -q -p no:cacheprovider tests/test_browser.py \
		-k "test_every_page_in_browser or test_quarterly_html_report_in_browser"

clean:
	rm -rf $(VENV) .pytest_cache
