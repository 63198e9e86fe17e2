# Two commands: `make run` (dashboard on the sample data) and `make test` (every test).
# Both install from requirements.lock (exact versions with hashes); `make lock` refreshes it
# from the ranges in pyproject.toml.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.lock-installed

.PHONY: run test test-fast mutate sample bench lock screenshots clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	# the project itself (console command `ketamine-outcomes`); its dependencies came from the lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/streamlit run dashboard.py

# Tests run on PYTEST_WORKERS processes (pytest-xdist); each test module stays on one worker (--dist loadfile),
# so module fixtures are built once and a module's tests never race each other.  PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile

# the layer map first (seconds; import-linter contracts in pyproject.toml), then every test
test: $(STAMP)
	$(VENV)/bin/lint-imports --no-logo
	$(PYTEST)

# Everything but the real-browser and slow (concurrency, fault-loop) tests: the quick check while editing.
test-fast: $(STAMP)
	$(PYTEST) -m "not browser and not slow"

# Mutation testing of the statistical core (outcomes.py, statistics.py, definitions.py; see [tool.mutmut] in
# pyproject.toml).  Slow (tens of minutes on 2 cores), not part of CI; mutmut is not in the lock, so this
# target installs it into the venv.  Works in ./mutants (ignored by git); prints the score at the end.
MUTMUT_VERSION ?= 3.8.1
mutate: $(STAMP)
	$(PY) -m pip install --quiet "mutmut==$(MUTMUT_VERSION)"
	$(VENV)/bin/mutmut run --max-children 2 || true
	$(VENV)/bin/mutmut results --all true > mutants/results.txt || true
	$(PY) tests/mutation_score.py mutants/results.txt

sample: $(STAMP)
	$(PY) sample_data/generate.py

bench: $(STAMP)
	$(PY) -m pip install --quiet -r benchmarks/requirements.txt
	$(PY) benchmarks/bench_engine.py

# Re-resolve the dependency ranges of pyproject.toml into the hashed lock (needs the package index).
lock:
	test -x $(VENV)-lock/bin/pip-compile || ($(PYTHON) -m venv $(VENV)-lock && $(VENV)-lock/bin/pip install --quiet pip-tools)
	$(VENV)-lock/bin/pip-compile --quiet --extra test --all-build-deps --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

# the tests write screenshots to the git-ignored data/screenshots; this refreshes the README's
# (the pages, the report, and the numbered steps of a director's first week: week-N-*.png)
screenshots: $(STAMP)
	SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest -q -p no:cacheprovider tests/test_browser.py \
		tests/test_quarterly_browser.py tests/test_director_week_browser.py -k "test_every_page_in_browser or \
		test_tolerability_page_in_browser or test_instrument_choice_in_browser or test_si_by_measure_in_browser or \
		test_safety_worklist_patient_marked_reviewed or test_director_loads_exports_through_the_mapping_screen or \
		test_html_report or test_pdf_has_pages or test_director_builds or test_a_directors_first_week"

clean:
	rm -rf $(VENV) $(VENV)-lock .pytest_cache .import_linter_cache mutants
