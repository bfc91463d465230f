"""The import rule of docs/architecture.md, enforced: libraries below, Kedro wiring on top, arrows pointing down, and
no import loop between modules."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections import deque
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "image_classification"
LIBRARIES = ("config", "data", "models", "training", "reporting", "datasets", "tracking")
WIRING = ("pipelines", "project", "settings", "pipeline_registry", "__main__")
# What each library may import from the others (besides itself); anything else is an arrow pointing up or sideways.
LIBRARY_IMPORTS = {
    "config": set(),  # typed settings: the bottom library, usable by every other one
    "data": {"config"},
    "models": {"config", "data"},
    "training": {"config"},
    "reporting": {"config"},
    "datasets": {"config", "models"},
    "tracking": {"config", "models", "reporting"},  # MLflow child runs: the pyfunc of models/, report settings
}


def _modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "bundled" not in path.parts)


def _part(path: Path) -> str:
    """The top-level part of the package a module belongs to: ``models``, ``pipelines``, ``settings`` ..."""
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _imported(path: Path) -> list[list[str]]:
    """Every ``image_classification.<a>.<b>...`` a module imports, as ``[a, b, ...]``."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module] if node.module != "image_classification" else [
                f"image_classification.{alias.name}" for alias in node.names
            ]  # fmt: skip
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        names += [module.split(".")[1:] for module in modules if module.startswith("image_classification.")]
    return names


def _dotted(path: Path, package: Path) -> str:
    """``models/weights.py`` -> ``models.weights``; a package's ``__init__.py`` is the package: ``models``."""
    parts = path.relative_to(package).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, at any depth (in functions and ``TYPE_CHECKING`` blocks too: a
    lazy import is still a dependency). ``from <pkg> import <name>`` is the submodule ``<pkg>.<name>`` where one
    exists, else ``<pkg>``'s ``__init__``; relative imports are resolved."""
    paths = {_dotted(path, package): path for path in package.rglob("*.py") if "bundled" not in path.parts}

    def module_of(dotted: str) -> str | None:
        """``image_classification.a.b.SomeName`` -> ``a.b``, the longest prefix that is a module of the package."""
        if dotted != package.name and not dotted.startswith(f"{package.name}."):
            return None
        parts = dotted.split(".")[1:]
        while parts and ".".join(parts) not in paths:
            parts.pop()
        return ".".join(parts) if ".".join(parts) in paths else None

    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        # Only explicit imports make edges, not the implicit load of each parent package's __init__: a package
        # re-exporting its submodules is then a loop only when one of them imports names from that __init__.
        within = name if path.name == "__init__.py" else name.rpartition(".")[0]
        own_package = [package.name, *filter(None, within.split("."))]  # what ``from .`` names
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = own_package[: len(own_package) + 1 - node.level] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                for alias in node.names:
                    submodule = f"{module}.{alias.name}"
                    imported.add(submodule if module_of(submodule) == submodule.partition(".")[2] else module)
        graph[name] = {target for module in imported if (target := module_of(module)) not in (None, name)}
    return graph


def import_loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component (Tarjan) of more than one module, as one shortest cycle per import edge
    inside it, e.g. ``["a", "b", "a"]``; each cycle once."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while not component or node not in component:
                component.add(stack.pop())
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    cycles = {}
    for component in components:
        for start in sorted(component):
            for target in sorted(graph[start] & component):  # the shortest way back from target to start
                previous, queue = {target: target}, deque([target])
                while start not in previous:
                    current = queue.popleft()
                    for following in sorted(graph[current] & component - previous.keys()):
                        previous[following] = current
                        queue.append(following)
                path = [start]
                while path[-1] != target:
                    path.append(previous[path[-1]])
                cycle = [start, *reversed(path)]  # start -> target -> ... -> start
                first = cycle.index(min(cycle[:-1]))  # one rotation per cycle
                cycles.setdefault(tuple(cycle[first:-1] + cycle[:first]), None)
    return [[*cycle, cycle[0]] for cycle in cycles]


def test_the_package_has_libraries_and_wiring_only() -> None:
    parts = {_part(path) for path in _modules()} - {"__init__"}
    assert parts <= set(LIBRARIES) | set(WIRING), f"modules outside the layout: {parts - set(LIBRARIES) - set(WIRING)}"


@pytest.mark.parametrize("library", LIBRARIES)
def test_libraries_import_no_wiring_and_only_the_libraries_below_them(library: str) -> None:
    wrong = [
        f"{path.relative_to(PACKAGE)} imports image_classification.{'.'.join(target)}"
        for path in _modules()
        if _part(path) == library
        for target in _imported(path)
        if target[0] != library and target[0] not in LIBRARY_IMPORTS[library]
    ]
    assert not wrong, "\n".join(wrong)


def test_project_wiring_imports_no_pipeline() -> None:
    wrong = [
        f"{path.relative_to(PACKAGE)} imports image_classification.{'.'.join(target)}"
        for path in _modules()
        if _part(path) == "project"
        for target in _imported(path)
        if target[0] == "pipelines"
    ]
    assert not wrong, "\n".join(wrong)


def test_nodes_of_one_pipeline_never_import_another_pipeline() -> None:
    """Only a ``pipeline.py`` may compose other pipelines (through their ``create_pipeline``)."""
    wrong = []
    for path in _modules():
        relative = path.relative_to(PACKAGE).parts
        if relative[0] != "pipelines" or len(relative) < 3:
            continue
        own = relative[1]
        for target in _imported(path):
            if target[0] != "pipelines" or len(target) < 2 or target[1] in (own, "per_model"):
                continue
            if path.name != "pipeline.py" or target[2:] not in ([], ["pipeline"]):
                wrong.append(f"{path.relative_to(PACKAGE)} imports image_classification.{'.'.join(target)}")
    assert not wrong, "\n".join(wrong)


def test_no_import_loops_between_modules() -> None:
    def shown(module: str) -> str:  # models.weights -> models/weights.py; a package -> its __init__.py
        folder = PACKAGE.joinpath(*filter(None, module.split(".")))
        return str((folder / "__init__.py" if folder.is_dir() else folder.with_suffix(".py")).relative_to(PACKAGE))

    loops = [" -> ".join(map(shown, cycle)) for cycle in import_loops(import_graph())]
    assert not loops, "import loops (move what both sides need to a module below them):\n" + "\n".join(loops)


def test_the_loop_check_sees_lazy_relative_and_package_imports(tmp_path: Path) -> None:
    """The checker itself, on a made-up package: a lazy import closing a loop, an ``__init__`` and its submodules."""
    package = tmp_path / "image_classification"
    (package / "lib").mkdir(parents=True)
    (package / "lib" / "__init__.py").write_text("from .low import VALUE\n")
    (package / "lib" / "low.py").write_text("VALUE = 1\n")
    (package / "lib" / "a.py").write_text("from image_classification.lib import b\n")
    (package / "lib" / "b.py").write_text("def f():\n    from image_classification.lib.a import g\n")
    (package / "lib" / "c.py").write_text("from image_classification.lib import VALUE\n")
    graph = import_graph(package)
    assert graph == {"lib": {"lib.low"}, "lib.low": set(), "lib.a": {"lib.b"}, "lib.b": {"lib.a"}, "lib.c": {"lib"}}
    assert import_loops(graph) == [["lib.a", "lib.b", "lib.a"]]
    (package / "lib" / "low.py").write_text("from image_classification.lib import c\n")  # back into the __init__
    assert sorted(import_loops(import_graph(package))) == [["lib", "lib.low", "lib.c", "lib"], ["lib.a", "lib.b", "lib.a"]]


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: a library module importing a pipeline is seen."""
    module = tmp_path / "bad.py"
    module.write_text("from image_classification.pipelines.report import nodes\nimport image_classification.project\n")
    assert _imported(module) == [["pipelines", "report"], ["project"]]


#: What registering the pipelines must not import (issue 22: ``kedro registry list`` and ``kedro run --pipelines
#: split`` start in seconds). mlflow is left out: kedro-mlflow's plugin imports it in every ``kedro`` command.
HEAVY_MODULES = ("keras", "tensorflow", "jax", "sklearn", "scipy", "matplotlib.pyplot")
#: Imported by mlflow itself (``mlflow.models``), which ``train_and_serve`` needs for its ``PipelineML`` signature.
MLFLOW_DEPENDENCIES = ("scipy",)
# Run in a fresh interpreter: bootstrap the project, register every pipeline, import the settings (hooks), then
# report which heavy modules are loaded (and whether mlflow imported them) and which node signatures
# ``typing.get_type_hints`` (what Kedro's validator calls) cannot resolve.
_REGISTER_AND_REPORT = """
import builtins, json, sys, traceback, typing
from pathlib import Path

heavy, importers, original_import = %r, {}, builtins.__import__

def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
    module = name if name == "matplotlib.pyplot" else name.split(".")[0]
    if level == 0 and module in heavy and module not in sys.modules and module not in importers:
        importers[module] = [frame.filename for frame in traceback.extract_stack()[:-1]]
    return original_import(name, globals, locals, fromlist, level)

builtins.__import__ = recording_import
from kedro.framework.startup import bootstrap_project

bootstrap_project(Path(sys.argv[1]))
from image_classification.pipeline_registry import register_pipelines
import image_classification.settings

pipelines = register_pipelines()
unresolved = []
for name, pipeline in pipelines.items():
    for node in pipeline.nodes:
        try:
            typing.get_type_hints(node.func)
        except Exception as error:
            unresolved.append(f"{name}: {node.name} ({node.func}): {error!r}")
loaded = {
    module: any("/mlflow/" in filename for filename in importers.get(module, []))
    for module in heavy if module in sys.modules
}
print(json.dumps({"pipelines": sorted(pipelines), "loaded": loaded, "unresolved": unresolved}))
"""


@pytest.fixture(scope="module")
def light_registration() -> dict:
    """What a fresh process holds after registering every pipeline (``kedro registry list`` does the same)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "KEDRO_DISABLE_TELEMETRY": "true"}
    result = subprocess.run(
        [sys.executable, "-c", _REGISTER_AND_REPORT % (HEAVY_MODULES,), str(ROOT)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_registering_the_pipelines_imports_no_keras_scikit_learn_scipy_or_pyplot(light_registration: dict) -> None:
    """Heavy libraries load inside the nodes that use them, so listing or starting a pipeline takes seconds."""
    assert {"__default__", "split", "transfer", "report"} <= set(light_registration["pipelines"])
    wrong = {
        module: "imported by mlflow" if by_mlflow else "imported by the project"
        for module, by_mlflow in light_registration["loaded"].items()
        if not (by_mlflow and module in MLFLOW_DEPENDENCIES)
    }
    assert not wrong, f"registering the pipelines imported {wrong}: import them inside the node functions"


def test_every_node_signature_resolves_without_heavy_imports(light_registration: dict) -> None:
    """Kedro's validator calls ``typing.get_type_hints`` on each node function: a Keras type it cannot resolve
    (imported only under ``TYPE_CHECKING``) makes a warning per node; Keras objects travel as ``Any``."""
    assert not light_registration["unresolved"], "\n".join(light_registration["unresolved"])
