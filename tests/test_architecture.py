"""The import rule of docs/architecture.md, enforced: libraries below, Kedro wiring on top, arrows pointing down."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "image_classification"
LIBRARIES = ("config", "data", "models", "training", "reporting", "datasets")
WIRING = ("pipelines", "project", "settings", "pipeline_registry", "__main__")
# What each library may import from the others (besides itself); anything else is an arrow pointing up or sideways.
LIBRARY_IMPORTS = {
    "config": set(),  # typed settings: the bottom library, usable by every other one
    "data": {"config"},
    "models": {"config", "data"},
    "training": {"config"},
    "reporting": {"config"},
    "datasets": {"config", "models"},
}
MAX_MODULE_LINES = 300


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


def test_no_module_is_over_300_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE)): lines
        for path in _modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"split these modules (over {MAX_MODULE_LINES} lines): {long}"


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: a library module importing a pipeline is seen."""
    module = tmp_path / "bad.py"
    module.write_text("from image_classification.pipelines.report import nodes\nimport image_classification.project\n")
    assert _imported(module) == [["pipelines", "report"], ["project"]]
