"""The layer contracts name every module of ``district/`` (it spans three layers module by module).

A new module in ``district/`` that no layer names would escape the one-way rule silently;
``lint-imports`` itself (run by ``make test``) checks the imports of the modules named.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_district_module_is_in_a_layer() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    named = {name.strip() for layer in layers for name in layer.replace("|", ":").split(":")}
    modules = {
        "district." + path.relative_to(ROOT / "district").parts[0].removesuffix(".py")
        for path in (ROOT / "district").glob("*")
        if (path.suffix == ".py" or path.is_dir()) and path.name not in {"__init__.py", "__pycache__", "migrations"}
    }
    assert modules - named == set(), f"modules of district/ in no layer of pyproject.toml: {modules - named}"
