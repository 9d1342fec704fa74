"""Package layering: the golden model runs on numpy alone, no generic top-level names are
installed, and neither ``fotrain.sw`` nor the ``fotrain`` package's own modules (CLI, compare,
reports) have an import cycle.

The import graph is built from the source with :mod:`ast`, not by importing: every ``import``
and ``from ... import`` at any nesting level counts (a function-local import is still an edge:
lazy imports keep start-up cheap, they do not make a cycle harmless), relative imports are
resolved, and ``from package import name`` is an edge to ``package.name`` when that is a module.
In the ``fotrain`` graph only edges between modules of the ``fotrain`` package directory count;
``fotrain.sw``/``hw``/``sim``/``boards`` live elsewhere and are checked on their own. A package is
not an implicit dependency of its submodules here: Python runs ``pkg/__init__`` before
``pkg.mod``, but that is a cycle only if ``pkg.mod`` names ``pkg`` itself.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXCLUDED = ("fotrain.sw", "fotrain.hw", "fotrain.sim", "fotrain.boards")


def test_sw_imports_no_amaranth_or_cocotb():
    code = (
        "import sys, pkgutil, importlib, fotrain.sw\n"
        "for m in pkgutil.walk_packages(fotrain.sw.__path__, 'fotrain.sw.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('amaranth', 'cocotb',"
        " 'cocotb_tools', 'matplotlib'))\n"
        "print(','.join(bad))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == ""


def test_no_generic_top_level_packages():
    for name in ("sw", "hw", "sim", "boards"):
        r = subprocess.run(
            [sys.executable, "-c", f"import {name}"], capture_output=True, cwd="/", text=True
        )
        assert r.returncode != 0, f"a top-level package {name!r} is importable"
    for name in ("fotrain.sw", "fotrain.hw", "fotrain.sim", "fotrain.boards"):
        subprocess.run([sys.executable, "-c", f"import {name}"], check=True, cwd="/")


def _module_name(path: Path, root: Path, package: str) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _in(module: str, packages: tuple[str, ...]) -> bool:
    """Whether ``module`` is one of ``packages`` or inside one."""
    return any(module == p or module.startswith(f"{p}.") for p in packages)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _targets(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """Dotted names an import statement refers to (modules, or a package plus a name)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        if node.module:
            base += node.module.split(".")
        base_name = ".".join(base)
    else:
        base_name = node.module or ""
    return [base_name, *(f"{base_name}.{alias.name}" for alias in node.names)]


def _edges(
    node: ast.Import | ast.ImportFrom,
    module: str,
    is_package: bool,
    known: set[str],
    excluded: tuple[str, ...],
) -> set[str]:
    """The known modules one import statement of ``module`` depends on."""
    names = _targets(node, module, is_package)
    if isinstance(node, ast.ImportFrom):
        base = names[0]
        if _in(base, excluded):
            return set()
        members = [m for m in names[1:] if not _in(m, excluded)]
        # `from pkg import mod` depends on pkg.mod; `from pkg import name` on pkg itself
        hits = {m for m in members if m in known}
        if len(hits) < len(members) and base in known:
            hits.add(base)
        return hits
    hits = set()
    for name in names:
        if _in(name, excluded):
            continue
        # `import a.b.c` runs a.b.c: the longest known prefix is the dependency
        parts = name.split(".")
        for n in range(len(parts), 0, -1):
            if ".".join(parts[:n]) in known:
                hits.add(".".join(parts[:n]))
                break
    return hits


def import_graph(root: Path, package: str, excluded: tuple[str, ...] = ()) -> dict[str, set[str]]:
    """``{module: modules it imports}`` for the package whose directory is ``root``.

    Parameters
    ----------
    root : Path
        The package directory (holds ``__init__.py``).
    package : str
        Its import name.
    excluded : tuple of str
        Subpackages whose modules are neither nodes nor targets.

    Returns
    -------
    dict
        Every module under ``root`` with the set of modules under ``root`` it imports.
    """
    files = {_module_name(p, root, package): p for p in sorted(root.rglob("*.py"))}
    known = {m for m in files if not _in(m, excluded)}
    graph: dict[str, set[str]] = {m: set() for m in known}
    for module in known:
        path = files[module]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            graph[module] |= _edges(node, module, _is_package(path), known, excluded)
        graph[module].discard(module)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle ``[a, b, ..., a]`` of ``graph`` if it has one, else ``None``.

    Parameters
    ----------
    graph : dict
        ``{node: successors}``.

    Returns
    -------
    list of str or None
        The modules of one cycle, the first repeated at the end.
    """
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


#: id: (the files of a package ``pkg``, edges its graph must have, the cycle ``find_cycle`` returns)
LAZY_RELATIVE_CYCLES = {
    "subpackage": (
        {
            "__init__.py": "",
            "sub/__init__.py": "",
            "a.py": "from .sub import b\n",
            "sub/b.py": "def f():\n    from ..a import x\n",
        },
        {"pkg.a": {"pkg.sub.b"}, "pkg.sub.b": {"pkg.a"}},
        ["pkg.a", "pkg.sub.b", "pkg.a"],
    ),
    "package-init": (
        {
            "__init__.py": "",
            "cli/__init__.py": "from . import info\n",
            "cli/info.py": "from ..engine import run\n",
            "engine.py": ("def run():\n    from .cli.info import helper\n    return helper\n"),
        },
        {
            "pkg.cli": {"pkg.cli.info"},
            "pkg.cli.info": {"pkg.engine"},
            "pkg.engine": {"pkg.cli.info"},
        },
        ["pkg.cli.info", "pkg.engine", "pkg.cli.info"],
    ),
}


@pytest.mark.parametrize("case", list(LAZY_RELATIVE_CYCLES))
def test_finds_a_cycle_through_a_lazy_relative_import(case, tmp_path):
    files, edges, want = LAZY_RELATIVE_CYCLES[case]
    graph = import_graph(_write_package(tmp_path / "pkg", files), "pkg")
    for module, imports in edges.items():
        assert graph[module] == imports, module
    cycle = find_cycle(graph)
    assert cycle == want
    with pytest.raises(AssertionError, match=" -> ".join(want)):  # the message names the cycle
        assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_detects_a_cycle_through_absolute_imports(tmp_path):
    pkg = _write_package(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "a.py": "import pkg.b\n",
            "b.py": "from pkg import c\n",
            "c.py": "class C:\n    def f(self):\n        from pkg.a import x\n",
        },
    )
    cycle = find_cycle(import_graph(pkg, "pkg"))
    assert cycle is not None and set(cycle) == {"pkg.a", "pkg.b", "pkg.c"}


def test_acyclic_package_and_excluded_subpackage(tmp_path):
    pkg = _write_package(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "leaf.py": "import json\n",
            "cmd.py": (
                "from .leaf import x\nfrom .sw.model import y\nfrom . import sw\n"
                "import pkg.sw.model\n"
            ),
            "sw/__init__.py": "",
            "sw/model.py": "from ..cmd import z\n",  # excluded: not a node, not a target
        },
    )
    graph = import_graph(pkg, "pkg", ("pkg.sw",))
    assert graph == {"pkg": set(), "pkg.leaf": set(), "pkg.cmd": {"pkg.leaf"}}
    assert find_cycle(graph) is None


def test_sw_import_graph_is_acyclic():
    graph = import_graph(ROOT / "sw", "fotrain.sw")
    assert len(graph) > 40 and graph["fotrain.sw.zo.fixed"], "graph not built"
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_fotrain_modules_have_no_import_cycle():
    graph = import_graph(ROOT / "fotrain", "fotrain", EXCLUDED)
    # the graph covers the CLI and compare packages and sees lazy (function-local) imports
    assert {"fotrain.cli", "fotrain.cli.args", "fotrain.compare", "fotrain.compare.sweep"} <= set(
        graph
    )
    assert "fotrain.cli.args" in graph["fotrain.cli.compare"]
    assert "fotrain.compare" in graph["fotrain.cli.compare"]  # imported inside the handler
    assert not any(m.startswith(EXCLUDED) for m in graph)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cli_args_is_a_leaf():
    graph = import_graph(ROOT / "fotrain", "fotrain", EXCLUDED)
    assert graph["fotrain.cli.args"] == set()


def test_sw_top_level_is_the_specification():
    top = sorted(p.stem for p in (ROOT / "sw").glob("*.py") if p.stem != "__init__")
    assert len(top) <= 12, top


@pytest.mark.parametrize("folder", ["sw", "hw", "sim", "boards", "fotrain", "tests"])
def test_no_module_over_500_lines(folder):
    too_long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / folder).rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert not too_long


def test_import_sw_loads_no_numpy_module():
    code = (
        "import sys, fotrain.sw\n"
        "print(','.join(sorted(n for n in sys.modules if n.split('.')[0] == 'numpy')))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == ""


def test_public_api_names():
    from fotrain.sw import Config, QFormat, tt_forward_fixed  # the names the README shows
    from fotrain.sw.config import Config as Config2
    from fotrain.sw.qformat import QFormat as QFormat2
    from fotrain.sw.train.data import download

    assert Config is Config2 and QFormat is QFormat2 and callable(download)
    assert callable(tt_forward_fixed)
    import fotrain.sw as sw

    for name in sw.__all__:
        assert getattr(sw, name) is not None, name


def test_hw_functions_are_short():
    """Every function in hw/ fits on a screen (at most 80 lines, docstring included)."""
    long = []
    for path in (ROOT / "hw").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 80:
                    long.append(f"{path.name}:{node.name} {n} lines")
    assert not long, long
