"""The package's layout rules (docs/design.md §4), read from the sources:

- no import cycle between lrn's modules (imports inside functions count too);
- no module takes another module's private names (``from ._x import _name`` or
  ``_x._name``);
- no kernel function (Cython ``def``/``cdef``/``cpdef``, C function in the
  kernel headers) takes more than 8 parameters.
"""
import ast
import pathlib
import re

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "lrn"
MAX_PARAMS = 8


def _module_name(path):
    parts = ("lrn",) + path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules():
    """lrn's Python modules (name -> path; compiled extensions map to None)."""
    found = {_module_name(p): None for p in SRC.rglob("*.pyx")}
    found.update({_module_name(p): p for p in SRC.rglob("*.py")})
    return found


def _resolve(name, node, is_package):
    """The absolute module an ImportFrom refers to."""
    if node.level == 0:
        return node.module or ""
    base = name.split(".")
    if not is_package:
        base = base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(name, path, modules):
    """[(imported lrn module, names taken from it, node)] of one module."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    found.append((alias.name, [], node))
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(name, node, path.name == "__init__.py")
            if target not in modules:
                continue
            names = []
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in modules:
                    found.append((sub, [], node))   # `from . import _params`: a module
                else:
                    names.append(alias.name)
            if names:
                found.append((target, names, node))
    return tree, found


def test_no_import_cycles():
    modules = _modules()
    graph = {name: {t for t, _, _ in _imports(name, path, modules)[1] if t != name}
             for name, path in modules.items() if path is not None}
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)


def _private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_private_names_across_modules():
    modules = _modules()
    bad = []
    for name, path in modules.items():
        if path is None:
            continue
        tree, found = _imports(name, path, modules)
        bound = {}   # local name -> lrn module it is bound to
        for target, names, node in found:
            bad += [f"{name}: from {target} import {n}" for n in names if _private(n)]
            if not names:
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[-1]
                    if target.endswith(alias.name):
                        bound[local] = target
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in bound and _private(node.attr)):
                bad.append(f"{name}: {node.value.id}.{node.attr}")
    assert not bad, "private names used across modules:\n" + "\n".join(sorted(set(bad)))


def _count(params):
    depth, count, token = 0, 0, False
    for ch in params:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            count += token
            token = False
            continue
        if not ch.isspace():
            token = True
    count += token
    return count - ("void" == params.strip())


_CY_DEF = re.compile(r"^\s*(?:cdef|cpdef|def)\b[^=\n]*?\b(\w+)\s*\(", re.M)
_C_DEF = re.compile(r"^\s*(?:static\s+(?:inline\s+)?|LRN_INLINE\s+)[\w\s\*]+?\b(\w+)\s*\(",
                    re.M)


def _signatures(text, pattern):
    for m in pattern.finditer(text):
        depth, i = 1, m.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        yield m.group(1), text[m.end():i - 1]


def test_kernel_functions_take_at_most_8_parameters():
    wide = []
    for path in sorted(SRC.rglob("*.pyx")) + sorted(SRC.rglob("*.pxi")) + \
            sorted(SRC.rglob("*.pxd")):
        for fn, params in _signatures(path.read_text(), _CY_DEF):
            if _count(params) > MAX_PARAMS:
                wide.append(f"{path.name}: {fn} ({_count(params)})")
    for path in sorted(SRC.rglob("*.h")):
        for fn, params in _signatures(path.read_text(), _C_DEF):
            if _count(params) > MAX_PARAMS:
                wide.append(f"{path.name}: {fn} ({_count(params)})")
    assert not wide, "functions with more than 8 parameters:\n" + "\n".join(wide)
