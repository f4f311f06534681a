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


# Bottom-up: a module imports its own layer, layers below, leaf helpers (modules that
# import nothing of the package: _optional, _model_files, exceptions...) and the formulas
# every layer scores with (evaluation.metrics and its one score mixin, evaluation._score).
LAYERS = ["_core", "spikes", "io", "datasets", "sae", "dynamics", "adapters", "evaluation", "app"]
FORMULAS = {"sklearn_mini.evaluation.metrics", "sklearn_mini.evaluation._score"}


def _layer(module):
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def upward_imports(graph):
    """``'module -> target'`` for every import of a higher layer (or of the package's top)."""
    leaves = {module for module, targets in graph.items() if not targets}
    upward = []
    for module, targets in graph.items():
        layer = _layer(module)
        if layer is None:  # the package's top: __init__, saving, earlier import paths
            continue
        for target in sorted(targets - leaves - FORMULAS):
            if _layer(target) is None or _layer(target) > layer:
                upward.append(f"{module} -> {target}")
    return upward


def test_layers_import_downwards_only():
    assert upward_imports(import_graph()) == []


def test_the_layer_check_sees_an_upward_import():
    graph = {"sklearn_mini.sae.spike": {"sklearn_mini.app.report", "sklearn_mini._core.x"},
             "sklearn_mini.app.report": {"sklearn_mini.sae.spike"},
             "sklearn_mini._core.x": {"sklearn_mini._core.y"}, "sklearn_mini._core.y": set()}
    assert upward_imports(graph) == ["sklearn_mini.sae.spike -> sklearn_mini.app.report"]


def test_the_version_is_the_one_in_pyproject():
    import re

    import sklearn_mini

    # No tomllib before Python 3.11: the line itself.
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"$', pyproject, re.M).group(1) == sklearn_mini.__version__


def test_earlier_paths_are_the_moved_modules_and_compare_stays_the_function():
    import subprocess
    import sys

    code = ("import sklearn_mini.compare, sklearn_mini.metrics, sklearn_mini.report\n"
            "import sklearn_mini as sm\n"
            "assert callable(sm.compare) and not isinstance(sm.compare, type(sm)), sm.compare\n"
            "assert sm.metrics is sm.evaluation.metrics\n"
            "from sklearn_mini.compare import matched_models\n"
            "assert matched_models.__module__ == 'sklearn_mini.evaluation.compare'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


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
        # Moved to the evaluation, sae and app packages (issue 20's layers):
        "sklearn_mini.metrics": ["explained_variance", "r2_per_unit", "dense_float64"],
        "sklearn_mini.features": ["feature_recovery", "latent_selectivity", "top_latents"],
        "sklearn_mini.baselines": ["PCA", "NMF"],
        "sklearn_mini.model_selection": ["DSAESearch"],
        "sklearn_mini.stability": ["StableFeatures"],
        "sklearn_mini.behaviour": ["auroc", "score_latents"],
        "sklearn_mini.matryoshka": ["MatryoshkaSAE"],
        "sklearn_mini.cli": ["main"],
        "sklearn_mini.cards": [],
        "sklearn_mini.plotting": [],
    }
    for module, names in before.items():
        imported = importlib.import_module(module)
        for name in names:
            assert hasattr(imported, name), f"{module}.{name}"


# A module longer than this holds more than one idea, unless its docstring says why not
# (a line starting "Long because").
MAX_MODULE_LINES = 450


def test_no_module_is_long_without_a_reason_in_its_docstring():
    long = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        doc = ast.get_docstring(ast.parse(text)) or ""
        if len(text.splitlines()) > MAX_MODULE_LINES and "Long because" not in doc:
            long.append(f"{path.relative_to(PACKAGE)}: {len(text.splitlines())} lines")
    assert long == []


def test_tests_are_laid_out_like_the_package():
    # tests/<layer>/ for every layer with tests (core is the private _core).
    tests = pathlib.Path(__file__).resolve().parent
    folders = {p.name for p in tests.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders and folders <= {layer.lstrip("_") for layer in LAYERS}, folders
    assert not list(tests.glob("test_*.py")) == [] and {p.name for p in tests.glob(
        "test_*.py")} <= {"test_layout.py", "test_docstrings.py"}  # the package as a whole
