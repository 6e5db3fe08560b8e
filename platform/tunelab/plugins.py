"""What a spec's `model` and `dataset` name, found: a registered name (built in, or installed
through the `tunelab.models` / `tunelab.datasets` entry points), an import path
`package.module:attribute`, or (datasets only) a data file. Torch-free."""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from tunelab import env
from tunelab.data import FILE_OPTIONS, Dataset, as_dataset, datasets, file_kind, load_file
from tunelab.errors import PluginError
from tunelab.models import Architecture, architectures, as_architecture
from tunelab.registry import Registry

T = TypeVar("T")


def is_import_path(ref: str) -> bool:
    module, sep, attribute = ref.partition(":")
    return bool(sep and module and attribute and "/" not in ref)


# Set while a command works from a spec read back from the tracking store (report, promote,
# reproduce, predict, resume, --extend): whoever can write to the store must not get to run code
# on whoever reads from it.
_STORED_CODE_REFUSED: ContextVar[bool] = ContextVar("stored_code_refused", default=False)


@contextlib.contextmanager
def stored_code(*, refused: bool) -> Iterator[None]:
    """Within: with `refused`, an import path in a spec is refused unless its module (or a
    package above it) is listed in $TUNELAB_TRUSTED_MODULES. Registered names (built in, or
    from an installed package's entry points) are code the user installed: always allowed."""
    token = _STORED_CODE_REFUSED.set(refused)
    try:
        yield
    finally:
        _STORED_CODE_REFUSED.reset(token)


def _check_trusted(module_name: str, ref: str) -> None:
    if not _STORED_CODE_REFUSED.get():
        return
    trusted = {m.strip() for m in (env.TUNELAB_TRUSTED_MODULES.get() or "").split(",")}
    parts = module_name.split(".")
    if any(".".join(parts[:n]) in trusted for n in range(1, len(parts) + 1)):
        return
    raise PluginError(
        f"'{ref}' is code named by a spec from the tracking store; not imported: pass "
        f"--trust-code to run it, or list '{parts[0]}' in $TUNELAB_TRUSTED_MODULES"
    )


def import_object(ref: str) -> Any:
    """`package.module:attr.sub` -> the object. The working directory is importable, as it is
    for `python -m`, so a project's own package works without installing it. Refused inside
    `stored_code(refused=True)` for modules not trusted."""
    module_name, _, attribute = ref.partition(":")
    _check_trusted(module_name, ref)
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise PluginError(f"cannot import '{module_name}': {type(exc).__name__}: {exc}") from None
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(f"module '{module_name}' has no attribute '{attribute}'") from None
    return obj


def _by_name(ref: str, registry: Registry[T], adapt: Callable[[str, Any], T]) -> T:
    """An import path's object, made an entry by `adapt`; or a registered name's entry."""
    if not is_import_path(ref):
        return registry.get(ref)
    try:
        return adapt(ref, import_object(ref))
    except TypeError as exc:
        raise PluginError(f"'{ref}': {exc}") from None


def resolve_architecture(ref: str) -> Architecture:
    return _by_name(ref, architectures, as_architecture)


def resolve_dataset(name: str | None = None, file: str | Path | None = None) -> Dataset:
    if file is not None:
        path = Path(file)
        kind = file_kind(path) if path.exists() else path.suffix.lower()
        return Dataset(
            name=str(path),
            description=f"data file {path.name}",
            load=lambda **options: load_file(path, **options),
            options=FILE_OPTIONS.get(kind, {}),
        )
    if name is None:
        raise ValueError("a dataset is named by `name` or `file`")
    return _by_name(name, datasets, as_dataset)
