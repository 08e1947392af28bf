"""flitstack_connectors never imports Odoo: checked in the source text (AST) and
by importing every module in a fresh interpreter where ``odoo`` is a sentinel
package that records and refuses the import."""
from __future__ import annotations

import ast
import json
import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import flitstack_connectors

PACKAGE_DIR = Path(flitstack_connectors.__file__).parent


def module_names() -> list[str]:
    names = ["flitstack_connectors"]
    for info in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix="flitstack_connectors."):
        names.append(info.name)
    return sorted(names)


def is_odoo(name: str | None) -> bool:
    return bool(name) and (name == "odoo" or name.startswith("odoo."))


def odoo_imports_in(path: Path) -> list[str]:
    """``file:line`` of each import of odoo, including ``importlib.import_module("odoo...")``
    and ``__import__("odoo")`` with a literal name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(is_odoo(a.name) for a in node.names):
            found.append(f"{path.name}:{node.lineno}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and is_odoo(node.module):
            found.append(f"{path.name}:{node.lineno}")
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str) and is_odoo(node.args[0].value)
              and ((isinstance(node.func, ast.Name) and node.func.id == "__import__")
                   or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"))):
            found.append(f"{path.name}:{node.lineno}")
    return found


def test_the_walk_finds_the_package_modules():
    names = module_names()
    assert {"flitstack_connectors.http", "flitstack_connectors.sources.clio",
            "flitstack_connectors.emulators.clio", "flitstack_connectors.records"} <= set(names)


def test_no_module_source_imports_odoo():
    offenders = {str(p.relative_to(PACKAGE_DIR)): odoo_imports_in(p) for p in sorted(PACKAGE_DIR.rglob("*.py"))}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_ast_check_catches_each_form_of_odoo_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(textwrap.dedent("""
        import os, odoo
        from odoo.tools import config
        import importlib
        importlib.import_module("odoo.addons.base")
        __import__("odoo")
        import odoorpc
        from .odoo import thing
    """))
    assert odoo_imports_in(sample) == ["sample.py:2", "sample.py:3", "sample.py:5", "sample.py:6"]


SENTINEL = """
import sys
sys.flitstack_odoo_imported = getattr(sys, "flitstack_odoo_imported", 0) + 1
raise RuntimeError("flitstack_connectors must not import odoo")
"""

PROBE = """
import importlib, json, sys, traceback
results = {}
for name in json.loads(sys.argv[1]):
    before = getattr(sys, "flitstack_odoo_imported", 0)
    try:
        importlib.import_module(name)
        error = None
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
    odoo = getattr(sys, "flitstack_odoo_imported", 0) > before
    results[name] = {"odoo": odoo, "error": error}
print(json.dumps(results))
"""


def run_probe(names: list[str], tmp_path: Path, extra_path: str = "") -> dict[str, dict]:
    (tmp_path / "odoo").mkdir(exist_ok=True)
    (tmp_path / "odoo" / "__init__.py").write_text(SENTINEL)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(tmp_path), extra_path, str(PACKAGE_DIR.parent), env.get("PYTHONPATH", "")] if p)
    run = subprocess.run([sys.executable, "-c", PROBE, json.dumps(names)], env=env, capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_sentinel_catches_an_import_even_when_it_is_swallowed(tmp_path):
    pkg = tmp_path / "lib" / "sneaky"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("try:\n    import odoo\nexcept Exception:\n    pass\n")
    results = run_probe(["sneaky", "json"], tmp_path, extra_path=str(tmp_path / "lib"))
    assert results == {"sneaky": {"odoo": True, "error": None}, "json": {"odoo": False, "error": None}}


def test_importing_every_module_never_imports_odoo(tmp_path):
    names = module_names()
    results = run_probe(names, tmp_path)
    assert set(results) == set(names)
    assert [name for name, r in results.items() if r["odoo"]] == []
    assert {name: r["error"] for name, r in results.items() if r["error"]} == {}
