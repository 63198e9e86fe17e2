"""The layer map of analytics/__init__.py holds: the import-linter contracts of pyproject.toml pass, and every
module of the package is placed in a layer (a new module cannot slip past the map)."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import analytics

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _layers() -> list[list[str]]:
    contract = next(c for c in CONFIG["contracts"] if c["type"] == "layers")
    return [re.split(r"\s*[|:]\s*", layer.strip()) for layer in contract["layers"]]


def test_every_module_is_in_a_layer():
    placed = {name for layer in _layers() for name in layer}
    modules = {f"analytics.{p.stem}" for p in (ROOT / "analytics").glob("*.py") if p.stem != "__init__"}
    assert modules - placed == set(), "place these modules in the layer map (pyproject.toml, analytics/__init__.py)"
    assert placed - modules - {"app_pages"} == set(), "the layer map names modules that no longer exist"


def test_the_docstring_map_names_the_layers_in_order():
    """analytics/__init__.py's docstring lists the layers bottom-up, as the contract does top-down."""
    doc = analytics.__doc__
    positions = [doc.index(f"``{layer[0].split('.')[-1]}``") for layer in reversed(_layers()) if
                 layer[0] != "analytics.__main__"]
    assert positions == sorted(positions)
    for layer in _layers():
        for name in layer:
            if name.startswith("analytics."):
                assert f"``{name.split('.')[-1]}``" in doc, f"{name} is not in the layer map of the docstring"


def test_import_contracts_pass():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" KEPT") == len(CONFIG["contracts"]), result.stdout
