"""Package layering: the golden model runs on numpy alone; no generic top-level names installed."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_sw_imports_no_amaranth_or_cocotb():
    code = ("import sys, pkgutil, importlib, fotrain.sw\n"
            "for m in pkgutil.walk_packages(fotrain.sw.__path__, 'fotrain.sw.'):\n"
            "    importlib.import_module(m.name)\n"
            "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('amaranth', 'cocotb',"
            " 'cocotb_tools', 'matplotlib'))\n"
            "print(','.join(bad))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == ""


def test_no_generic_top_level_packages():
    for name in ("sw", "hw", "sim", "boards"):
        r = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True,
                           cwd="/", text=True)
        assert r.returncode != 0, f"a top-level package {name!r} is importable"
    for name in ("fotrain.sw", "fotrain.hw", "fotrain.sim", "fotrain.boards"):
        subprocess.run([sys.executable, "-c", f"import {name}"], check=True, cwd="/")


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Edges module -> modules of ``package`` it imports, at any nesting level (function-local
    imports included), with relative imports resolved; ``from pkg import name`` points at the
    submodule ``pkg.name`` when that is a module, else at ``pkg``."""
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        is_pkg = parts[-1] == "__init__"
        name = ".".join((package, *(parts[:-1] if is_pkg else parts)))
        modules[name] = (path, is_pkg)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, is_pkg) in modules.items():
        here = name if is_pkg else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")
                    anchor = anchor[:len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_import_graph_finds_a_cycle(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import x\n")
    graph = import_graph(pkg, "pkg")
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.a"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.a"]


def test_sw_import_graph_is_acyclic():
    graph = import_graph(ROOT / "sw", "fotrain.sw")
    assert len(graph) > 40 and graph["fotrain.sw.zo.fixed"], "graph not built"
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_sw_top_level_is_the_specification():
    top = sorted(p.stem for p in (ROOT / "sw").glob("*.py") if p.stem != "__init__")
    assert len(top) <= 12, top
    too_long = {str(p.relative_to(ROOT)): n for p in (ROOT / "sw").rglob("*.py")
                if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500}
    assert not too_long


def test_import_sw_loads_no_numpy_module():
    code = ("import sys, fotrain.sw\n"
            "print(','.join(sorted(n for n in sys.modules if n.split('.')[0] == 'numpy')))\n")
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
