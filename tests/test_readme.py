"""The README matches the code: its commands run and print what it shows, and its tables name what exists.

The commands run in a temporary folder holding a copy of ``sample_data/`` (and a store of their own), so
the tests change no tracked file.  They run in-process (``tests/cli_runner.py``), as the CLI tests do.
"""
from __future__ import annotations

import ast
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cli_runner import run_cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end > 0 else None]


def _blocks(text: str, language: str = "sh") -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def _commands(block: str) -> list[str]:
    """The command lines of a shell block: comments and the venv activation left out."""
    lines = (line.split("  #")[0].strip() for line in block.splitlines())
    return [line for line in lines if line and not line.startswith(("#", ". "))]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder like the repository's root for the README's relative paths, with its own store."""
    shutil.copytree(ROOT / "sample_data", tmp_path / "sample_data")
    monkeypatch.setenv("OUTCOMES_DB", str(tmp_path / "outcomes.sqlite"))
    return tmp_path


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess:
    argv = shlex.split(command)
    if argv[:3] == ["python", "-m", "analytics"]:
        return run_cli(*argv[3:], cwd=cwd)
    assert argv[0] == "python", f"the README runs {argv[0]!r}: teach this test how to run it"
    return subprocess.run([sys.executable, *argv[1:]], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_quick_start_runs_and_prints_what_the_readme_shows(workdir):
    section = _section("Command line quick start")
    commands = _commands(_blocks(section)[0])
    assert len(commands) >= 4 and all(c.startswith("python -m analytics") for c in commands)
    outputs = {}
    for command in commands:
        result = _run(command, workdir)
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        outputs[command] = result.stdout
    # the example output is the default summary of the sample clinic, line for line
    shown = re.search(r"```\n(Week 6 outcomes.*?)```", section, flags=re.S).group(1)
    printed = outputs["python -m analytics summary sample_data/sample_clinic.csv"]
    for line in filter(str.strip, shown.splitlines()):
        assert line.rstrip() in printed, f"README shows a line the summary no longer prints: {line!r}"


@pytest.mark.slow
def test_research_walkthrough_runs_and_its_script_reproduces(workdir):
    """The research cohort block, start to end: import, cohorts, comparison, export and its reproduce.py; and
    the import line the store section quotes."""
    commands = _commands(_blocks(_section("Research cohort review"))[0])
    assert commands[-1] == "python research/north/reproduce.py"
    outputs = []
    for command in commands:
        result = _run(command, workdir)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        outputs.append(result.stdout)
    assert '"response"' in outputs[-1]
    quoted = re.search(r"#   (sample_clinic\.csv: import 1 done\. .*?), \.\.\.", _section(
        "Clinic data store: weekly exports without re-uploading")).group(1)
    assert quoted in outputs[0]


def test_every_module_is_in_the_layout_table():
    layout = _section("Layout")
    pages = next(line for line in layout.splitlines() if line.startswith("| `app_pages/overview.py`"))
    missing = [p.relative_to(ROOT).as_posix() for p in sorted([*ROOT.glob("analytics/*.py"),
                                                                *ROOT.glob("app_pages/*.py")])
               if p.stem != "__init__" and f"`{p.relative_to(ROOT).as_posix()}`" not in layout
               and not (p.parent.name == "app_pages" and f"`{p.name}`" in pages)]
    assert missing == [], "add these modules to the README's Layout table"


def _dashboard_pages() -> list[str]:
    tree = ast.parse((ROOT / "dashboard.py").read_text())
    return [kw.value.value for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "attr", "") == "Page" for kw in node.keywords if kw.arg == "title"]


def test_the_page_table_lists_every_page_of_the_dashboard():
    pages = _dashboard_pages()
    table = re.findall(r"^\| \*\*(\w+)\*\* \|", _section("The dashboard"), flags=re.M)
    assert sorted(table) == sorted(pages)
    assert f"the {NUMBERS[len(pages)]} pages" in _section("Layout")


def test_the_browser_test_modules_are_named():
    modules = sorted(p.name for p in (ROOT / "tests").glob("test_*browser*.py"))
    intro = README[:README.index("\n## ")]
    assert f"The {NUMBERS[len(modules)]} browser test modules" in intro
    for name in modules:
        assert f"tests/{name}" in intro and name in _section("Layout")


def test_every_file_the_readme_shows_or_links_exists():
    # screenshots and documents: a renamed or deleted file must not leave a broken image or link behind
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = set(re.findall(r"\]\(((?:docs|sample_data|benchmarks|tests|analytics)/[^)#\s]+)\)", text))
    assert any(t.startswith("docs/screenshots/") for t in targets)
    assert [t for t in sorted(targets) if not (ROOT / t).exists()] == []
