"""Names a package exports from submodules that are imported on first use (PEP 562), so that importing the package
(as pipeline registration does) does not import Keras."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, modules: Mapping[str, str], namespace: dict[str, Any]) -> tuple[Callable, Callable]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``name`` comes from ``package.<modules[name]>`` when first read.

    Args:
        package: The package's ``__name__``.
        modules: Exported name -> the submodule defining it.
        namespace: The package's ``globals()``; each name is cached there once imported.
    """

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module-level hook of PEP 562
        if name in modules:
            value = getattr(importlib.import_module(f"{package}.{modules[name]}"), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:  # noqa: N807
        return sorted({*namespace, *modules})

    return __getattr__, __dir__
