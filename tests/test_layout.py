"""The package's layout: no import cycles, layers that import downwards only (issue 20)."""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "sklearn_mini"


def import_graph(root=PACKAGE, unresolved=None):
    """Module -> the package's modules it imports, lazily inside functions included.

    Relative imports that name no module of the package go to ``unresolved`` (a list),
    e.g. a lazy ``from . import _persistence`` left behind when a module moved.
    """
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] \
                    if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module:
                    found, missing = [target], target not in modules
                else:  # from . import a: a submodule, or a name of the package's __init__
                    found = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target
                             for a in node.names]
                    missing = any(f"{target}.{a.name}" not in modules
                                  and a.name not in _top_level_names(modules.get(target))
                                  for a in node.names)
                if node.level and missing and unresolved is not None:
                    unresolved.append(f"{name}: from {'.' * node.level}{node.module or ''} "
                                      f"import {', '.join(a.name for a in node.names)}")
            elif isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            else:
                continue
            targets |= {t for t in found if t in modules and t != name}
        graph[name] = targets
    return graph


def _top_level_names(path):
    """Names a module defines or imports at its top level (empty without a path)."""
    names = set()
    for node in ast.parse(path.read_text()).body if path else []:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def cycles(graph):
    """Every cycle of module imports (a package importing its own submodules, or a
    submodule its package, is not one: that is how packages are built)."""
    def related(a, b):
        return a.startswith(b + ".") or b.startswith(a + ".")

    found = set()
    for start in graph:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if related(node, nxt):
                    continue
                if nxt == start:
                    found.add(tuple(sorted(path)))
                elif nxt not in path:
                    stack.append((nxt, path + [nxt]))
    return sorted(found)


def test_the_cycle_finder_finds_a_cycle(tmp_path):
    package = tmp_path / "pkg"
    (package / "io").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "spikes.py").write_text("def f():\n    from .io.convert import g\n")
    (package / "io" / "__init__.py").write_text("")
    (package / "io" / "convert.py").write_text("from ..spikes import f\n")
    assert cycles(import_graph(package)) == [("pkg.io.convert", "pkg.spikes")]


def test_no_import_cycle_in_the_package_and_every_relative_import_resolves():
    unresolved = []
    assert cycles(import_graph(unresolved=unresolved)) == []
    assert unresolved == []


def test_the_spikes_layer_imports_nothing_above_it():
    # Only itself and leaf helpers (modules that import nothing of the package, such
    # as _optional and _persistence).
    graph = import_graph()
    leaves = {module for module, targets in graph.items() if not targets}
    for module, targets in graph.items():
        if module.startswith("sklearn_mini.spikes"):
            above = {t for t in targets if not t.startswith("sklearn_mini.spikes")} - leaves
            assert not above, (module, above)


def test_public_names_import_from_where_they_did_before_the_move():
    # Issue 20: the layers moved (spikes package, io.formats, _params, _score, the
    # sparsity package); every public import path of the release before stays.
    import importlib

    before = {
        "sklearn_mini": ["SpikeSAE", "MatryoshkaSAE", "SpikeBinner", "SpikeTrains",
                         "as_spike_trains", "compare"],
        "sklearn_mini.spikes": ["SpikeTrains", "as_spike_trains", "subtract_intervals",
                                "spike_table_columns", "TIME_UNITS", "to_seconds"],
        "sklearn_mini.binning": ["SpikeBinner", "qc_summary", "bin_spikes", "count_bins"],
        "sklearn_mini.io": ["read_nwb", "read_kilosort", "read_labels", "from_pynapple",
                            "to_pynapple", "from_neo", "to_neo", "write_spike_files"],
        "sklearn_mini.io.convert": ["from_pynapple", "to_pynapple", "from_neo", "to_neo"],
        "sklearn_mini.report": ["read_recording", "run_job", "choose_sizes"],
        "sklearn_mini.exceptions": ["DivergenceWarning", "DivergenceError",
                                    "DeadLatentWarning", "FitInterruptedWarning"],
        "sklearn_mini.sae": ["SpikeSAE", "auto_topk", "auto_d_sae", "auto_lr"],
        "sklearn_mini.compare": ["compare", "frontier", "matched_models", "evaluate"],
    }
    for module, names in before.items():
        imported = importlib.import_module(module)
        for name in names:
            assert hasattr(imported, name), f"{module}.{name}"
