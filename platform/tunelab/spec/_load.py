"""Load a spec file, apply command-line overrides, and turn every problem into one located line."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from tunelab.errors import SpecError
from tunelab.spec._schema import Fusion, SweepSpec
from tunelab.spec._yaml import KeyPath, dotted, load_yaml_with_lines

# Command-line flags and the key each one overrides.
FLAG_KEYS: dict[str, KeyPath] = {
    "--trials": ("budget", "trials"),
    "--max-epochs": ("budget", "max_epochs"),
    "--concurrency": ("budget", "concurrency"),
    "--seed": ("seed",),
    "--name": ("name",),
    "--max-retries": ("failure", "max_retries"),
}
# The Python API's keywords (`tunelab.sweep(spec, max_epochs=3)`) and the key each one overrides.
KEYWORD_KEYS: dict[str, KeyPath] = {
    flag.removeprefix("--").replace("-", "_"): path for flag, path in FLAG_KEYS.items()
}


def override_path(given: str) -> KeyPath:
    """The spec key an override sets: a flag (`--max-epochs`), a keyword of the Python API
    (`max_epochs`) or a dotted spec key (`budget.max_wall_s`). An error about the value names
    the override as it was given."""
    if given in FLAG_KEYS:
        return FLAG_KEYS[given]
    if given in KEYWORD_KEYS:
        return KEYWORD_KEYS[given]
    if given.startswith("-") or not all(given.split(".")):
        raise ValueError(f"not an override: {given!r}")
    return tuple(given.split("."))


def overriding(overrides: Mapping[str, Any], path: KeyPath) -> str | None:
    """The override, as given, that sets `path` (an unset one, None, does not); None if none."""
    return next(
        (k for k, v in overrides.items() if v is not None and override_path(k) == path), None
    )


@dataclass(frozen=True)
class Setting:
    """A value the sweep runs with that is not the spec text's own, and where it came from."""

    path: KeyPath
    value: Any
    origin: str  # the flag that set it (`--trials`), or what changed it
    written: Any = None  # the spec's own value; None where it left the key to its default


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec with where it came from: the source text as written, and the settings
    that flags (or their consequences) changed, which together are the sweep as run."""

    spec: SweepSpec
    source: str
    text: str
    lines: Mapping[KeyPath, int]
    overrides: Mapping[str, Any]
    notes: tuple[str, ...] = ()  # what the overrides changed beyond their own keys
    # A spec read back from a sweep: the digest of the data it ran on, which loading it again
    # must reproduce (DataSplits.digest).
    data_sha256: str | None = None
    settings: tuple[Setting, ...] = ()  # every value not the text's own, in the order applied
    # What errors call the text where `source`'s lines are not its own: a spec a sweep recorded
    # with flags in place, read back (data files are still found beside `source`).
    shown: str = ""

    @property
    def recorded_text(self) -> str:
        """The sweep as run, as the spec a sweep records: its text as written when no flag
        changed it; else that spec with every changed value in place, headed by where each
        came from. Parsed again with no flags, it is the same sweep (resume, --extend,
        reproduce and report read it back)."""
        import yaml

        if not self.settings:
            return self.text
        data = yaml.safe_load(self.text)
        for setting in self.settings:
            _set(data, setting.path, setting.value)
        # A spec recorded before (an extended sweep's) keeps its own header above this one.
        lines = self.text.lstrip().splitlines()
        kept = list(itertools.takewhile(lambda line: line.startswith("#"), lines))
        header = [*kept, f"# The sweep as run: {self.source} with these values changed"]
        for setting in self.settings:
            written = (
                "not in the spec"
                if setting.written is None
                else f"the spec has {json.dumps(setting.written)}"
            )
            header.append(
                f"#   {dotted(setting.path)}: {json.dumps(setting.value)} "
                f"(from {setting.origin}; {written})"
            )
        return "\n".join(header) + "\n" + yaml.safe_dump(data, sort_keys=False)

    def locate(self, path: KeyPath, message: str) -> SpecError:
        return _locate(self.shown or self.source, self.lines, self.overrides, path, message)

    def overridden(self, path: KeyPath) -> bool:
        """Whether an override (a flag, a keyword of the API, a dotted key) set this key."""
        return overriding(self.overrides, path) is not None

    def with_trials(self, trials: int) -> LoadedSpec:
        """The same spec with `budget.trials` set: what a resumed sweep has left to run."""
        budget = self.spec.budget.model_copy(update={"trials": trials})
        return dataclasses.replace(self, spec=self.spec.model_copy(update={"budget": budget}))

    def with_fusion(self, size: int | None) -> LoadedSpec:
        """The same spec with its fused groups' size picked (`fusion: auto`), or unfused."""
        fusion = None if size is None else Fusion(size=size)
        return dataclasses.replace(self, spec=self.spec.model_copy(update={"fusion": fusion}))


def parse_spec(
    text: str, source: str, overrides: Mapping[str, Any] | None = None, *, shown: str = ""
) -> LoadedSpec:
    """Validate a spec's YAML text; `source` names it in errors (a file name, with lines), or
    `shown` where the text is not that file's."""
    data, lines = load_yaml_with_lines(text, shown or source)
    loaded = _validated(data, text, shown or source, lines, overrides)
    return dataclasses.replace(loaded, source=source, shown=shown)


def spec_from_mapping(
    data: Mapping[str, Any], source: str = "spec", overrides: Mapping[str, Any] | None = None
) -> LoadedSpec:
    """Validate a spec given as a mapping (the Python API's dict). Errors name `source` and the
    key path; the spec is recorded as YAML, as if it had been written in a file."""
    import yaml

    plain = yaml.safe_load(yaml.safe_dump(dict(data), sort_keys=False))  # only YAML's types
    return _validated(plain, yaml.safe_dump(plain, sort_keys=False), source, {}, overrides)


def spec_to_mapping(spec: SweepSpec) -> dict[str, Any]:
    """A validated spec as the mapping that validates to it again."""
    data = spec.model_dump(mode="json")
    if data["objectives"]:
        del data["metric"], data["mode"]  # the first objective's; given by `objectives`
    else:
        del data["objectives"]
    return data


def _validated(
    data: Any,
    text: str,
    source: str,
    lines: Mapping[KeyPath, int],
    overrides: Mapping[str, Any] | None,
) -> LoadedSpec:
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        raise SpecError(
            f"must be a mapping of keys (model, dataset, ...), got {got}", source=source, line=1
        )
    flags = {flag: value for flag, value in (overrides or {}).items() if value is not None}
    written = data
    data = copy.deepcopy(data)
    settings = []
    for flag, value in flags.items():
        path = override_path(flag)
        own = _get(written, path)
        if own != value:
            settings.append(Setting(path, value, flag, own))
        _set(data, path, value)
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        # An unknown key is usually the cause of a "missing" one (a typo), so it is named first.
        details = sorted(exc.errors(), key=lambda err: err["type"] != "extra_forbidden")
        errors = [_to_spec_error(err, data, source, lines, flags) for err in details]
        first_kind = details[0]["type"]
        same_kind = [e for e, d in zip(errors, details, strict=True) if d["type"] == first_kind]
        raise min(same_kind, key=lambda e: (e.line is None, e.line or 0)) from None
    epochs_by = overriding(flags, ("budget", "max_epochs"))
    spec, notes = _clamp_grace_period(spec, epochs_by)
    if notes:  # the grace period the sweep runs with, set by the override of max_epochs
        path = ("scheduler", "grace_period")
        assert epochs_by is not None
        settings.append(Setting(path, spec.scheduler.grace_period, epochs_by, _get(written, path)))
    return LoadedSpec(
        spec=spec,
        source=source,
        text=text,
        lines=lines,
        overrides=flags,
        notes=notes,
        settings=tuple(settings),
    )


def _get(data: Any, path: KeyPath) -> Any:
    """The value at `path` in the user's data; None where it is missing."""
    node = data
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _set(data: Any, path: KeyPath, value: Any) -> None:
    """Set `path` in the user's data, making the mappings above it; a shorthand above it
    (`scheduler: asha`) becomes its mapping. A value of the wrong type above it is left for
    validation to report."""
    *parents, leaf = path
    node = data
    for key in parents:
        if isinstance(node.get(key), str):
            node[key] = {"type": node[key]}
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            return
    node[leaf] = value


def _clamp_grace_period(
    spec: SweepSpec, epochs_by: str | None
) -> tuple[SweepSpec, tuple[str, ...]]:
    """A smoke run (`--max-epochs 1`) of a spec whose scheduler waits longer before stopping a
    trial: the grace period shrinks to the run's epochs, and a note says so. `epochs_by`: the
    override that set `budget.max_epochs`, if one did."""
    grace, epochs = spec.scheduler.grace_period, spec.budget.max_epochs
    if epochs_by is None or grace is None or grace <= epochs:
        return spec, ()
    scheduler = spec.scheduler.model_copy(update={"grace_period": epochs})
    note = (
        f"{epochs_by} {epochs} is below scheduler.grace_period ({grace}): the grace period "
        f"is {epochs} for this sweep"
    )
    return spec.model_copy(update={"scheduler": scheduler}), (note,)


def _locate(
    source: str, lines: Mapping[KeyPath, int], flags: Mapping[str, Any], path: KeyPath, message: str
) -> SpecError:
    for given in flags:
        key = override_path(given)
        if path[: len(key)] == key:
            return SpecError(message, source=given)
    probe = path
    while probe and probe not in lines:
        probe = probe[:-1]
    return SpecError(message, source=source, line=lines.get(probe), path=dotted(path))


def _data_path(loc: tuple[int | str, ...], data: Any) -> tuple[KeyPath, Any]:
    """Map pydantic's error location onto keys of the user's data, dropping union tags."""
    path: list[str | int] = []
    node: Any = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_dict or in_list:
            node = node[part]
            path.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and not path_is_tag(part):
            path.append(part)  # a missing or unknown key below the last real node
            node = None
    return tuple(path), node


def path_is_tag(part: str) -> bool:
    return part in {"float", "int", "categorical", "constant"}


def _to_spec_error(
    err: ErrorDetails,
    data: Any,
    source: str,
    lines: Mapping[KeyPath, int],
    flags: Mapping[str, Any],
) -> SpecError:
    path, _ = _data_path(err["loc"], data)
    kind = err["type"]
    got = err.get("input")
    if kind == "missing":
        return _locate(source, lines, flags, path[:-1], f"missing required key '{path[-1]}'")
    if kind == "extra_forbidden":
        parent = _parent_fields(err["loc"])
        close = difflib.get_close_matches(str(path[-1]), parent, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        known = f" (known: {', '.join(parent)})" if parent and not close else ""
        return _locate(source, lines, flags, path, f"unknown key{hint}{known}")
    messages = {
        "float_parsing": "must be a number",
        "float_type": "must be a number",
        "int_parsing": "must be an integer",
        "int_type": "must be an integer",
        "int_from_float": "must be an integer",
        "bool_parsing": "must be true or false",
        "bool_type": "must be true or false",
        "string_type": "must be a string",
        "dict_type": "must be a mapping",
        "model_type": "must be a mapping",
        "model_attributes_type": "must be a mapping",
        "list_type": "must be a list",
    }
    if kind in messages:
        return _locate(source, lines, flags, path, f"{messages[kind]}, got {_show(got)}")
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        expected = ctx.get("expected_tags", "")
        return _locate(
            source,
            lines,
            flags,
            (*path, "type"),
            f"must be one of {expected}, got {ctx.get('tag')!r}",
        )
    if kind == "union_tag_not_found":
        return _locate(
            source,
            lines,
            flags,
            path,
            "missing required key 'type' (float, int, categorical) or a single fixed value",
        )
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return _locate(source, lines, flags, path, f"must be one of {expected}, got {_show(got)}")
    if kind in {"greater_than_equal", "greater_than", "less_than_equal", "less_than"}:
        ctx = err.get("ctx", {})
        op = {
            "greater_than_equal": ">=",
            "greater_than": ">",
            "less_than_equal": "<=",
            "less_than": "<",
        }[kind]
        bound = next(iter(ctx.values()), "")
        bound = f"{bound:g}" if isinstance(bound, float) else str(bound)
        return _locate(source, lines, flags, path, f"must be {op} {bound}, got {_show(got)}")
    message = err["msg"].removeprefix("Value error, ")
    return _locate(source, lines, flags, path, message[:1].lower() + message[1:])


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value) if isinstance(value, str) else str(value)


def _parent_fields(loc: tuple[int | str, ...]) -> list[str]:
    """Field names allowed where an unknown key was found, for the did-you-mean hint."""
    from tunelab.spec import _params as p
    from tunelab.spec import _schema as s

    models: dict[str, type] = {
        "budget": s.Budget,
        "searcher": s.Searcher,
        "scheduler": s.Scheduler,
        "resources": s.Resources,
        "system_metrics": s.SystemMetrics,
        "failure": s.Failure,
        "checkpoints": s.Checkpoints,
        "objectives": s.Objective,
        "constraints": s.Bound,
        "model": s.ModelRef,
        "dataset": s.DatasetRef,
        "float": p.FloatParam,
        "int": p.IntParam,
        "categorical": p.CategoricalParam,
        "constant": p.ConstantParam,
    }
    model: type = s.SweepSpec
    for part in loc[:-1]:
        if isinstance(part, str) and part in models:
            model = models[part]
    return [name for name in model.model_fields if name != "type"]  # type: ignore[attr-defined]
