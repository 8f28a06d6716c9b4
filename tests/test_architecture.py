"""The shape of the code: a subpackage per job, layered as pyproject.toml's import-linter contracts
say; one module per idea, none importing a module that imports it, each small enough to read in one
sitting; every activation and loss named in `sheetprop.model.ops` alone; heavy engines imported only
when used."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from sheetprop.model import ops

PACKAGE = Path(__file__).resolve().parent.parent / "sheetprop"
MAX_LINES = 450  # a module to read in one sitting
MAX_TOP_MODULES = 8  # the plumbing every job shares; the rest lives in a subpackage per job


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(name: str) -> set[str]:
    """The sheetprop modules `name` imports anywhere (in functions too), but for type checkers only."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "sheetprop"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "sheetprop":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


def test_no_module_imports_one_that_imports_it():
    graph = {name: imports(name) for name in MODULES}
    cycles = []

    def visit(name: str, path: list[str], done: set[str]) -> None:
        for nxt in sorted(graph[name]):
            if nxt in path:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt, path + [nxt], done)
        done.add(name)

    finished: set[str] = set()
    for name in MODULES:
        if name not in finished:
            visit(name, [name], finished)
    assert cycles == [], "import cycles: " + "; ".join(" → ".join(c) for c in cycles)


def test_the_check_sees_function_level_imports():
    assert "sheetprop.writing.workbook" in imports("sheetprop.cli.generate")  # imported inside `generate`
    assert "sheetprop.grading.batch" not in imports("sheetprop")  # only for type checkers in __init__


def test_each_module_can_be_read_in_one_sitting():
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_the_layers_hold():
    """pyproject.toml's import-linter contracts: the CLI over the web server over reports over grading and
    verify over the engines over writing over the model over the plumbing; the engines know no model."""
    done = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                           "sys.exit(lint_imports_command())", "--no-cache"], capture_output=True, text=True,
                          cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_a_subpackage_per_job_each_saying_what_it_does():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top
    packages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    assert packages == ["cli", "engines", "grading", "model", "reports", "serve", "solution", "verifying", "writing"]
    for name in packages:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text(encoding="utf-8")))
        assert doc and len(doc.splitlines()) >= 3, name
        assert "import" in doc.lower(), f"{name}/__init__.py does not say what it may import"


def test_activations_and_losses_are_named_in_ops_alone():
    """A new activation or loss is one entry in sheetprop.ops: no other module spells a name of one."""
    names = {*ops.ACTIVATIONS, *ops.LOSSES, *ops.ACTIVATION_ALIASES, *ops.LOSS_ALIASES} - {"none"}  # a bias mode too
    spelled = []
    for name, path in MODULES.items():
        if name == "sheetprop.model.ops":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                spelled.append(f"{name}:{node.lineno} {node.value!r}")
    assert spelled == []


def test_generate_starts_without_the_heavy_engines():
    code = ("import sys; from sheetprop import cli; "
            "print(sorted(m for m in ('ironcalc', 'formulas', 'openpyxl', 'numpy', 'starlette', 'uvicorn') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=PACKAGE.parent)
    assert done.stdout.strip() == "[]"
