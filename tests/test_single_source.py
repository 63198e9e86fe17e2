"""One source for every rule: no threshold, window or default restated outside ``analytics/definitions.py``.

A static check of ``analytics/`` and ``app_pages/`` (the rules of the product and the pages that show
them).  It looks where a rule is written as a number: a comparison, ``between``/``clip``, a reference line
on a chart, a dashboard input's range or default, a function's default, a module constant; and where it is
written in words: the plain-language form of each rule in definitions.py ("days -30 to 0", "50%", "< 5",
"1 to 10", "<11") in user-facing text.  Anything else found must be in ALLOWED with the reason it is not
a rule.  A new threshold belongs in definitions.py, imported where it is used.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from analytics import definitions as rules

ROOT = Path(__file__).resolve().parents[1]
SCANNED = sorted([*ROOT.glob("analytics/*.py"), *ROOT.glob("app_pages/*.py")])
#: Numbers that are structure, not rules (empty, one, the sign).
TRIVIAL = {0, 1, -1}

#: (file, number) -> why that number in that file is not a rule.  ``None`` as the number: the whole file.
ALLOWED = {
    ("analytics/definitions.py", None): "the one source",
    ("analytics/synthetic.py", None): "parameters of the synthetic clinic generator (sample data), not rules "
                                      "applied to a clinic's data",
    ("analytics/synthetic_sessions.py", None): "parameters of the synthetic sessions generator (sample data), not "
                                               "rules applied to a clinic's data",
    ("analytics/instruments.py", None): "each instrument's published properties (items, ranges, severity bands, "
                                        "cut-points), cited beside each value; the outcome rules built on them "
                                        "are in definitions.py",
    ("analytics/loading.py", 10): "byte value of a newline in the CSV scanner",
    ("analytics/loading.py", 44): "byte value of a comma in the CSV scanner",
    ("analytics/loading.py", 8): "bits per byte (Parquet footer widths)",
    ("analytics/fhir.py", 2): "path segments of a FHIR reference (Patient/id)",
    ("analytics/fhir.py", 10): "length of an ISO date (YYYY-MM-DD)",
    ("analytics/duplicates.py", 2): "fewer than two rows need no sorting",
    ("analytics/duplicates.py", 26): "bits of the time part of the int64 sort key (time keys are below 2 ** 26)",
    ("analytics/canonical_frame.py", 2): "fewer than two infusion numbers have no neighbour to fall from",
    ("analytics/problems.py", 40): "problem-report display: long values are cut to 40 characters",
    ("analytics/questionnaire_schema.py", 60): "problem-report display: a long list of missing columns is shortened",
    ("analytics/problems.py", 200): "MAX_PROBLEMS_PER_KIND: rows of a problem report kept per kind (display)",
    ("analytics/study_days.py", 20_000): "sort-key stride between episodes (above twice DAY_LIMIT); not a rule",
    ("analytics/study_days.py", 1e7): "sort-key offset putting rows without a study day after, by date",
    ("analytics/study_days.py", 1e6): "sort-key sentinel for 'same date' (above any stride)",
    ("analytics/observations.py", 10): "problem-report display: the first ten line numbers are listed",
    ("analytics/sessions.py", -2): "code of an unknown vocabulary value (-1 is blank)",
    ("analytics/sessions.py", 3): "three or more spaces in a cell: free text, refused as possibly identifying",
    ("analytics/sessions.py", 4): "problem-report display: the first four spellings of a vocabulary entry",
    ("analytics/uploads.py", 10): "longest file extension kept in an upload's label",
    ("analytics/research_export.py", 14): "study id length in letters (16 ** 14 = 2 ** 56 ids)",
    ("analytics/suppression.py", 512): "array length above which the convolution uses the FFT (speed only)",
    ("analytics/suppression.py", 0.5): "rounding of the FFT convolution back to booleans",
    ("analytics/durability.py", 0.0001): "lme4's isSingular tolerance (numerical)",
    ("analytics/published.py", 3): "a prediction interval needs three or more pooled studies (t with k - 2 df)",
    ("analytics/wording.py", 0.001): "p-value display: 'p < 0.001' (formatting, not a significance rule)",
    ("analytics/wording.py", 0.01): "p-value display: three decimals below 0.01",
    ("analytics/wording.py", 0.99): "p-value display: 'p > 0.99'",
    ("analytics/comparisons.py", 2): "a comparison needs two groups",
    ("analytics/outcomes.py", 2): "a patient with two or more episodes",
    ("app_pages/common.py", 2): "two or more groups to compare",
    ("app_pages/research.py", 2): "two or more cohorts to compare",
    ("app_pages/patient_chart.py", 0.06): "vertical space between the course chart's rows (layout)",
    ("app_pages/research.py", 0.5): "a guide line at one half for the published 'about half do not complete six'",
    ("app_pages/trajectories.py", 300): "MAX_LINES: patients' lines drawn at most (legibility)",
    ("app_pages/patient.py", 1000): "PATIENT_CHOICES_SHOWN: patients offered in the list at once (the browser's "
                                    "payload; a search box finds any other)",
    ("analytics/quarterly_charts.py", None): "SVG geometry of the report's charts (pixel sizes, positions, font "
                                             "sizes); the one rule drawn, the small-cell threshold, is imported",
    ("analytics/quarterly_workbook.py", 60): "workbook layout: text longer than this wraps (column width)",
    ("analytics/quarterly_workbook.py", 100): "workbook layout: a summary line longer than this wraps",
    ("analytics/report_pdf.py", 120_000): "milliseconds Chromium may take to start and print (operational)",
}

#: (file, constant) -> why that module constant is not a rule (named: its value may change at a merge).
ALLOWED_CONSTANTS = {
    ("analytics/store_schema.py", "SCHEMA_VERSION"): "the store's migration counter, not a rule",
    ("analytics/store_backends.py", "BUSY_TIMEOUT_S"): "seconds SQLite waits for a lock before the store is "
                                                       "reported busy (operational)",
    ("analytics/store_backends.py", "POSTGRES_WRITE_WAIT_S"): "seconds a PostgreSQL import queues for the store's "
                                                              "write lock (operational)",
    ("analytics/store_copy.py", "_CHUNK"): "rows fetched per round trip while copying a store (memory, not a rule)",
    ("analytics/store.py", "_INSERT_BLOCK"): "rows per INSERT block during an import (bounds one block's memory)",
    ("analytics/session_store.py", "_PATIENTS_PER_QUERY"): "patients per query when reading some patients' "
                                                           "sessions (SQL parameter limit, not a rule)",
    ("analytics/store_backends.py", "_BULK_CACHE_BYTES_PER_ROW"): "page cache per row of a bulk insert (memory and "
                                                                  "speed, not a rule)",
    ("analytics/store_backends.py", "_PAGE_BYTES"): "page size of a new SQLite store file (storage layout and "
                                                    "speed, not a rule)",
    ("analytics/store_snapshot.py", "SNAPSHOT_FORMAT"): "version of the snapshot files' layout (a counter, not a rule)",
    ("analytics/loading.py", "_READ_THREADS"): "threads used to convert a large Parquet file's columns (speed only)",
    ("analytics/loading.py", "_THREADED_ROWS"): "rows above which column conversion uses threads (speed only)",
    ("analytics/outcomes.py", "_PARALLEL_ROWS"): "rows from which patient outcomes use two threads (speed only)",
    ("analytics/outcomes.py", "_PARALLEL_BLOCKS"): "blocks of patients a large frame's outcomes are computed in "
                                                    "(memory and speed only)",
}

#: (file, phrase) -> why that wording in that file is not our rule restated.
ALLOWED_TEXT = {
    ("analytics/infusions.py", "50% fall"): "Oliver 2022's own response definition, quoted with its figure",
}

_CHART_LINES = {"add_hline": "y", "add_vline": "x"}
_INPUT_KEYWORDS = {"min_value", "max_value", "value"}
_DISPLAY_DEFAULTS = {"alpha", "timeout", "decimals", "width", "height"}  # presentation, not rules


def _number(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and _number(node.operand) is not None:
        return -_number(node.operand)
    return None


def _numbers_where_rules_live(tree: ast.Module):
    """(line, what, number) for every number written where a threshold, window or default would be."""
    found = []

    def add(node, what, value):
        if value is not None and value not in TRIVIAL:
            found.append((node.lineno, what, value))

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                add(node, "comparison", _number(operand))
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("between", "clip"):
                for arg in node.args:
                    add(node, f"{name}()", _number(arg))
            for kw in node.keywords:
                if kw.arg == _CHART_LINES.get(name) or (name == "number_input" and kw.arg in _INPUT_KEYWORDS):
                    add(node, f"{name}({kw.arg}=)", _number(kw.value))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            positional = args.posonlyargs + args.args
            pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
            for arg, default in pairs:
                if arg.arg not in _DISPLAY_DEFAULTS:
                    add(default, f"default of {node.name}({arg.arg})", _number(default))
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id.lstrip("_").isupper():
                    add(node, f"constant {target.id}", _number(node.value))
    return found


def _rule_texts() -> dict[str, str]:
    """Each rule of definitions.py as it reads in plain language (phrase -> the constant it restates)."""
    lo, hi = rules.BASELINE_WINDOW_DAYS
    fall, below, small = f"{rules.RESPONSE_MIN_FALL:.0%}", rules.REMISSION_BELOW, rules.SMALL_CELL_MAX
    return {
        f"days {lo} to {hi}": "BASELINE_WINDOW_DAYS", f"{lo} to {hi}:": "BASELINE_WINDOW_DAYS",
        f"{fall} fall": "RESPONSE_MIN_FALL", f"fall of {fall}": "RESPONSE_MIN_FALL",
        f"less than {fall}": "RESPONSE_MIN_FALL", f"< {below})": "REMISSION_BELOW", f"below {below}.": "REMISSION_BELOW",
        f"1 to {small}": "SMALL_CELL_MAX", f"1-{small}": "SMALL_CELL_MAX", f"<{small + 1}": "SMALL_CELL_MAX",
    }


def _says(text: str, phrase: str) -> bool:
    """``phrase`` in ``text`` as a whole number ("1 to 10" is not in "1 to 10000")."""
    return re.search(re.escape(phrase) + (r"(?!\d)" if phrase[-1].isdigit() else ""), text) is not None


def _texts(tree: ast.Module):
    """(line, text) of every string literal that is not a docstring (f-strings: their literal parts)."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def _allowed(path: str, value) -> bool:
    return (path, None) in ALLOWED or (path, value) in ALLOWED


def test_no_threshold_number_outside_definitions():
    restated = []
    for file in SCANNED:
        path = file.relative_to(ROOT).as_posix()
        for line, what, value in _numbers_where_rules_live(ast.parse(file.read_text(), str(file))):
            if not _allowed(path, value) and (path, what.removeprefix("constant ")) not in ALLOWED_CONSTANTS:
                restated.append(f"{path}:{line}: {what} = {value!r}")
    assert not restated, ("numbers that look like rules outside analytics/definitions.py (define them there and "
                          "import them, or add them to ALLOWED with the reason they are not a rule):\n"
                          + "\n".join(restated))


def test_no_rule_restated_in_words_outside_definitions():
    restated = []
    for file in SCANNED:
        path = file.relative_to(ROOT).as_posix()
        if (path, None) in ALLOWED:
            continue
        for line, text in _texts(ast.parse(file.read_text(), str(file))):
            restated += [f"{path}:{line}: {phrase!r} restates {name}: {text[:80]!r}"
                         for phrase, name in _rule_texts().items()
                         if _says(text, phrase) and (path, phrase) not in ALLOWED_TEXT]
    assert not restated, ("rules written out in user-facing text (format them from analytics.definitions):\n"
                          + "\n".join(restated))


@pytest.mark.parametrize("source, finding", [
    ("x = frame['day'].between(-30, 0)", "between() = -30"),
    ("fig.add_hline(y=-0.5)", "add_hline(y=) = -0.5"),
    ("st.number_input('Week', min_value=1, max_value=52, value=6)", "number_input(max_value=) = 52"),
    ("def f(frame, *, window_days=60): pass", "default of f(window_days) = 60"),
    ("ok = n > 10", "comparison = 10"),
    ("SMALL_N = 10", "constant SMALL_N = 10"),
])
def test_the_check_finds_a_restated_rule(source, finding):
    """The scanner is itself tested: each way a rule can be restated is found."""
    found = [f"{what} = {value!r}" for _, what, value in _numbers_where_rules_live(ast.parse(source))]
    assert finding in found


def test_the_check_finds_a_rule_in_words():
    tree = ast.parse('"""Docstrings may explain days -30 to 0."""\nlabel = "no questionnaire on days -30 to 0"\n')
    hits = [(line, phrase) for line, text in _texts(tree) for phrase in _rule_texts() if _says(text, phrase)]
    assert hits == [(2, "days -30 to 0")]
    assert not _says("allowed: 1 to 10000", "1 to 10") and _says("from 1 to 10 patients", "1 to 10")


def test_every_allowance_is_still_needed():
    """An allowance whose number is gone from its file is stale: remove it so it cannot hide a new rule."""
    stale = []
    for (path, value), reason in ALLOWED.items():
        assert reason, (path, value)
        if value is None:
            assert (ROOT / path).exists(), path
            continue
        numbers = {v for _, _, v in _numbers_where_rules_live(ast.parse((ROOT / path).read_text()))}
        if value not in numbers:
            stale.append((path, value))
    for path, name in ALLOWED_CONSTANTS:
        if f"constant {name}" not in {w for _, w, _ in _numbers_where_rules_live(ast.parse((ROOT / path).read_text()))}:
            stale.append((path, name))
    assert not stale, f"allowances no longer needed: {stale}"
