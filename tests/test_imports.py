"""Import hygiene, read from the source (ast: nothing is imported, so no TensorFlow): no import
cycle between modules, no private name imported across modules, and ``formcheck.device`` never
imports ``formcheck.train`` or ``formcheck.convert``. Imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"formcheck.device": REPO / "device", "formcheck.train": REPO / "train",
            "formcheck.convert": REPO / "convert"}

# Accepted exceptions, each pair named with its reason: (a, b) with a -> b and b -> a for a
# cycle, (user, owner) for a private name used through a module alias. None today.
KNOWN_CYCLES: set[tuple[str, str]] = set()
KNOWN_PRIVATE_USE: set[tuple[str, str]] = set()


def modules() -> dict[str, Path]:
    out = {}
    for pkg, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([pkg, *parts])] = path
    return out


MODULES = modules()


def is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _is_main_guard(node: ast.stmt) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in node.test.comparators))


def imports(name: str) -> list[tuple[str, str | None, int]]:
    """``(module, imported name or None, line)`` for every import in a module, resolved to
    absolute names."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    # A script guard runs only when the file is executed as __main__, a different module object
    # from the one others import: what it imports cannot close a cycle.
    tree.body = [n for n in tree.body if not _is_main_guard(n)]
    base = name if is_package(name) else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")
                up = parts[: len(parts) - (node.level - 1)]
                mod = ".".join(up + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out += [(mod, a.name, node.lineno) for a in node.names]
    return out


def target(mod: str, name: str | None) -> str | None:
    """The formcheck module an import reaches (``from pkg import module`` reaches the module)."""
    if name and f"{mod}.{name}" in MODULES:
        return f"{mod}.{name}"
    return mod if mod in MODULES else None


def graph() -> dict[str, set[str]]:
    g: dict[str, set[str]] = {m: set() for m in MODULES}
    for m in MODULES:
        for mod, name, _ in imports(m):
            t = target(mod, name)
            if t is not None and t != m:
                g[m].add(t)
    return g


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def without_known(g: dict[str, set[str]]) -> dict[str, set[str]]:
    known = {p for a, b in KNOWN_CYCLES for p in ((a, b), (b, a))}
    return {m: {t for t in ts if (m, t) not in known} for m, ts in g.items()}


def test_the_walk_sees_every_package():
    assert len(MODULES) > 40
    assert "formcheck.device.judging.judge" in MODULES and "formcheck.train.cli" in MODULES
    g = graph()
    assert "formcheck.device.judging.verdict" in g["formcheck.device.judging.judge"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]  # the check can fail


def test_no_import_cycles():
    found = cycles(without_known(graph()))
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_known_cycles_are_gone():
    g = graph()
    assert not [(a, b) for a, b in KNOWN_CYCLES if b in g[a] and a in g[b]]


def test_no_private_names_imported_across_modules():
    bad = []
    for m in MODULES:
        for mod, name, line in imports(m):
            if (mod.startswith("formcheck.") and name and name.startswith("_") and not name.startswith("__")
                    and target(mod, name) != f"{mod}.{name}"):
                bad.append(f"{m}:{line} imports {mod}.{name}")
    assert not bad, "\n".join(bad)


def private_uses(name: str) -> list[tuple[str, str, int]]:
    """``(owner module, private name, line)`` for each ``alias._name`` where ``alias`` is another
    formcheck module bound by an import in ``name``."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    aliases: dict[str, str] = {}
    base = name if is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = (".".join(base.split(".")[: len(base.split(".")) - (node.level - 1)]
                            + ([node.module] if node.module else [])) if node.level else node.module or "")
            for a in node.names:
                if f"{mod}.{a.name}" in MODULES:
                    aliases[a.asname or a.name] = f"{mod}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.asname and a.name in MODULES:
                    aliases[a.asname] = a.name
    return [(aliases[n.value.id], n.attr, n.lineno) for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in aliases
            and n.attr.startswith("_") and not n.attr.startswith("__") and aliases[n.value.id] != name]


def test_no_private_names_used_across_modules():
    bad = [f"{m}:{line} uses {owner}.{attr}" for m in MODULES for owner, attr, line in private_uses(m)
           if (m, owner) not in KNOWN_PRIVATE_USE]
    assert not bad, "\n".join(bad)


def test_the_known_private_uses_are_gone():
    assert not [(m, o) for m, o in KNOWN_PRIVATE_USE if any(owner == o for owner, _, _ in private_uses(m))]


def test_train_never_imports_convert():
    """``convert`` may import ``train`` (the shipped-defaults builder trains and converts);
    ``train`` never imports ``convert``."""
    bad = [f"{m}:{line} imports {mod}" for m in MODULES if m.startswith("formcheck.train")
           for mod, _, line in imports(m) if mod.startswith("formcheck.convert")]
    assert not bad, "\n".join(bad)


def test_device_never_imports_train_or_convert():
    bad = [f"{m}:{line} imports {mod}" for m in MODULES if m.startswith("formcheck.device")
           for mod, _, line in imports(m) if mod.startswith(("formcheck.train", "formcheck.convert"))]
    assert not bad, "\n".join(bad)
