"""Names a package offers without importing what defines them until first used (PEP 562), so
that importing the package stays cheap: `tunelab --help` imports no torch, and a Ray worker
importing one backend module does not import Ray Tune's searchers."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def attributes(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: each name in `names` is looked up, on first access,
    in the module named beside it (`"_common"` for `package._common`, or an absolute name;
    `"module:attribute"` when the attribute has another name there)."""

    def __getattr__(name: str) -> Any:
        where = names.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = where.partition(":")
        if module.startswith("_"):
            module = f"{package}.{module}"
        return getattr(importlib.import_module(module), attribute or name)

    return __getattr__
