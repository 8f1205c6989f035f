"""The parameter registry: every numeric key of the schema, its dotted path and its slot.

Both engines read a parameter set as one float64 vector ``theta``::

    [global record | company record x n_companies | event records and their branch records]

Nothing here is declared by hand: the records are derived from the pydantic
schema (:mod:`simulator.model.schema`) by walking its models in declaration
order (a model's own fields before inherited ones).  A numeric field is one
slot, a switch (``chips.enabled``) one slot holding 1.0 or 0.0, a jump
(``{mean, sd}``) two slots ``.mean`` and ``.sd`` (the bare key addresses the
mean), a range (``import_cut = [low, high]``) two slots ``.low`` and ``.high``
(the bare key addresses both).  A field marked ``engine=False`` in the schema
is no parameter.  Adding a key to the schema therefore adds its slot, its
dotted path (for ``--set``, sweeps, calibration, sensitivity and uncertain
inputs), its documentation row and the engines' view of it; the kernels and
the reference engine address it by the schema's own attribute names
(``COMPANY.growth.kappa``), never by a second spelling.

May import: :mod:`simulator.errors` and :mod:`simulator.model.schema`.
"""

from __future__ import annotations

import hashlib
import json
from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin

import numpy as np
from pydantic import BaseModel

from simulator.errors import ScenarioError
from simulator.model.schema import (
    SECTOR_ONLY_EFFECTS,
    Branch,
    Company,
    Event,
    Jump,
    Scenario,
    own_fields_first,
)

__all__ = [
    "BRANCH",
    "COMPANY",
    "EVENT",
    "EVENT_TABLE",
    "GLOBAL",
    "Parameter",
    "ParameterLayout",
    "Record",
    "build_layout",
    "layout_fingerprint",
    "parameter_bounds",
    "parameter_of",
    "parameter_units",
]


@dataclass(frozen=True)
class Parameter:
    """One slot of a record.

    Attributes
    ----------
    key : str
        Dotted key inside its record (``growth.kappa``, ``narrative.mean``,
        ``sector.narrative.kappa``).
    slot : int
        Position in the record.
    model : type
        The schema model that declares the field.
    name : str
        The field's name in that model.
    part : str or None
        ``mean``/``sd`` of a jump, ``low``/``high`` of a range, else None.
    """

    key: str
    slot: int
    model: type[BaseModel]
    name: str
    part: str | None = None

    @property
    def info(self):
        """The pydantic ``FieldInfo`` of the field (units and range in its metadata)."""
        return self.model.model_fields[self.name]

    def value(self, obj: Any) -> float:
        """This parameter's value in a validated object of the record's model."""
        node = obj
        parts = self.key.split(".")
        if self.part is not None:
            parts = parts[:-1]
        for attr in parts[:-1]:
            node = getattr(node, attr)
        value = getattr(node, parts[-1])
        if value is None:
            fallback = (self.info.json_schema_extra or {}).get("fallback")
            value = getattr(node, fallback)
        if self.part in ("mean", "sd"):
            value = getattr(value, self.part)
        elif self.part in ("low", "high"):
            value = value[0 if self.part == "low" else 1]
        return float(value)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _is_sequence(annotation: Any) -> bool:
    """``tuple[X, ...]`` (an array of tables or of numbers), possibly Annotated or optional."""
    origin = get_origin(annotation)
    if origin is tuple:
        args = get_args(annotation)
        return len(args) == 2 and args[1] is Ellipsis
    return any(_is_sequence(a) for a in get_args(annotation))


def _is_range(annotation: Any) -> bool:
    """``tuple[float, float]`` (a [low, high] range), possibly Annotated."""
    if get_origin(annotation) is tuple:
        return get_args(annotation) == (float, float)
    return any(_is_range(a) for a in get_args(annotation))


def _inner(annotation: Any) -> Any:
    """The type inside ``Annotated[...]`` or ``X | None``."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is not None and args and not _is_range(annotation) and not _is_sequence(annotation):
        return _inner(args[0])
    return annotation


def _walk(model: type[BaseModel], prefix: tuple[str, ...], out: list[Parameter], *, own_only: bool = False):
    for name, info in own_fields_first(model, own_only=own_only):
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if extra.get("engine") is False:
            continue
        annotation = _inner(info.annotation)
        key = (*prefix, name)
        if annotation is Jump:
            for part in ("mean", "sd"):
                out.append(Parameter(".".join((*key, part)), len(out), model, name, part))
        elif _is_range(info.annotation):
            for part in ("low", "high"):
                out.append(Parameter(".".join((*key, part)), len(out), model, name, part))
        elif _is_model(annotation):
            _walk(annotation, key, out)
        elif _is_sequence(info.annotation) or annotation is str:
            continue  # arrays of tables are records of their own; names are no numbers
        elif annotation in (float, int, bool):
            out.append(Parameter(".".join(key), len(out), model, name))
        else:  # pragma: no cover - a new kind of field must be taught here
            raise TypeError(f"{model.__name__}.{name}: no parameter rule for {annotation!r}")


@dataclass(frozen=True)
class Record:
    """An ordered block of parameters, derived from one schema model.

    Attributes
    ----------
    name : str
        ``global``, ``company``, ``event`` or ``branch``.
    parameters : tuple of Parameter
        In slot order.
    """

    name: str
    parameters: tuple[Parameter, ...]
    _keys: dict[str, tuple[int, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys: dict[str, tuple[int, ...]] = {}
        for p in self.parameters:
            if p.part is not None:
                # The bare key of a jump addresses its mean, of a range both ends;
                # it comes before its parts.
                bare = p.key.rsplit(".", 1)[0]
                if p.part in ("mean", "low"):
                    keys[bare] = (p.slot,)
                elif p.part == "high":
                    keys[bare] = (*keys[bare], p.slot)
            keys[p.key] = (p.slot,)
        object.__setattr__(self, "_keys", keys)

    @classmethod
    def of(cls, name: str, model: type[BaseModel], *, own_only: bool = False) -> Record:
        """The record of ``model``'s numeric fields (``own_only``: not those it inherits)."""
        params: list[Parameter] = []
        _walk(model, (), params, own_only=own_only)
        return cls(name, tuple(params))

    @property
    def size(self) -> int:
        """Number of slots."""
        return len(self.parameters)

    @property
    def keys(self) -> tuple[str, ...]:
        """Every dotted key of the record, aliases (bare jump and range keys) included."""
        return tuple(self._keys)

    def slots(self, key: str) -> tuple[int, ...]:
        """Slots of a dotted key of the record; KeyError if it is none."""
        return self._keys[key]

    def slot(self, key: str) -> int:
        """The one slot of a key that has one."""
        (slot,) = self._keys[key]
        return slot

    def values(self, obj: Any) -> list[float]:
        """The record's values, in slot order, from a validated object."""
        return [p.value(obj) for p in self.parameters]

    def namespace(self, scale: int = 1, convert: Callable[[int], Any] = int):
        """The slots as nested named tuples of ``convert(slot * scale)``: ``ns.growth.kappa``.

        The kernels import such a namespace (scaled by their lane width) as
        compile-time constants.
        """
        return self._build(lambda slot: convert(slot * scale))

    def view(self, get: Callable[[int], Any]):
        """The record's values by the schema's attribute names: ``view.growth.kappa`` is ``get(slot)``.

        ``get(slot)`` returns a slot's value (a number, or a per-path array for an
        uncertain input); every slot is read once, when the view is made.
        """
        return self._build(get)

    def _build(self, leaf: Callable[[int], Any]):
        tree: dict[str, Any] = {}
        for p in self.parameters:
            node = tree
            parts = p.key.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = p.slot
        return _instantiate(self._classes, tree, leaf)

    @property
    def _classes(self) -> dict:
        cached = self.__dict__.get("_class_cache")
        if cached is None:
            cached = {}
            object.__setattr__(self, "_class_cache", cached)
        return cached

    def describe(self) -> list[list[Any]]:
        """Plain data (key and slot of every parameter), for fingerprints."""
        return [[p.key, p.slot] for p in self.parameters]


def _instantiate(classes: dict, tree: dict[str, Any], leaf: Callable[[int], Any], name: str = "Slots"):
    """Nested named tuples of ``leaf(slot)`` shaped like ``tree``; the tuple classes are made once per shape."""
    values = {k: (_instantiate(classes, v, leaf, f"{name}_{k}") if isinstance(v, dict) else leaf(v))
              for k, v in tree.items()}
    cls = classes.get(name)
    if cls is None:
        cls = classes[name] = namedtuple(name, list(values))
    return cls(**values)


def _scenario_global(scenario_model: type[BaseModel]) -> Record:
    return Record.of("global", scenario_model)


#: Sector mood and outcome thresholds: one record per parameter set.
GLOBAL = _scenario_global(Scenario)
#: One record per company.
COMPANY = Record.of("company", Company)
#: One record per event: what the event itself has (its hazard).
EVENT = Record.of("event", Event, own_only=True)
#: One record per branch of an event (an event without outcomes is one branch).
BRANCH = Record.of("branch", Branch)

#: Columns of the integer event table: company (-1 sector), slot of the event
#: record in theta, first branch, number of branches.
EVENT_TABLE = namedtuple("EventTable", "company slot first_branch n_branches")(0, 1, 2, 3)


def parameter_units(path: str, currency: str = "") -> str:
    """Units of the numeric key at a dotted path (``cards/month``; ``{currency}`` replaced), ``""`` if none."""
    param = parameter_of(path)
    info = None if param is None else param.info
    extra = info.json_schema_extra if info is not None and isinstance(info.json_schema_extra, dict) else {}
    return str(extra.get("units", "")).replace("{currency}", currency)


def parameter_bounds(path: str) -> tuple[float, float]:
    """The allowed range of the numeric key at a dotted path, as the schema declares it (open ends included
    as given: a key allowed in (0, 1e12] gives (0, 1e12)); infinite where it declares none."""
    param = parameter_of(path)
    low, high = -np.inf, np.inf
    if param is None:
        return low, high
    # A jump's mean and sd have the bounds of Jump's fields; other keys their own.
    info = Jump.model_fields[param.part] if param.part in ("mean", "sd") else param.info
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "range" in extra:
        return float(extra["range"][0]), float(extra["range"][1])
    for meta in info.metadata:
        for attr in ("ge", "gt"):
            if getattr(meta, attr, None) is not None:
                low = float(getattr(meta, attr))
        for attr in ("le", "lt"):
            if getattr(meta, attr, None) is not None:
                high = float(getattr(meta, attr))
    return low, high


def parameter_of(path: str) -> Parameter | None:
    """The :class:`Parameter` (the first slot's) of the numeric key at a dotted path, or None."""
    parts = str(path).split(".")
    records: tuple[Record, ...] = (GLOBAL,)
    rest = parts
    if parts[0] == "companies" and len(parts) > 2:
        records, rest = (COMPANY,), parts[2:]
    if "events" in rest:
        rest = rest[rest.index("events") + 2:]
        records = (EVENT, BRANCH)
        if rest[:1] == ["outcomes"]:
            rest = rest[2:]
    key = ".".join(rest)
    for record in records:
        if key in record.keys:
            return record.parameters[record.slots(key)[0]]
    return None


def layout_fingerprint() -> str:
    """A hash of every record's keys and slots: changes whenever the layout does."""
    text = json.dumps({r.name: r.describe() for r in (GLOBAL, COMPANY, EVENT, BRANCH)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ParameterLayout:
    """The engines' view of one scenario: parameter vector, event tables, path registry.

    Attributes
    ----------
    theta : ndarray, shape (n_theta,)
        Every numeric parameter.
    events : ndarray of int64, shape (n_events, 4)
        Per event (columns :data:`EVENT_TABLE`): company index (-1 sector), theta
        slot of its record, first branch, branch count.
    branches : ndarray of int64, shape (n_branches,)
        Theta slot of each branch record.
    paths : dict
        Dotted path -> tuple of theta slots.
    """

    theta: np.ndarray
    events: np.ndarray
    branches: np.ndarray
    paths: dict[str, tuple[int, ...]] = field(repr=False)
    company_names: tuple[str, ...]
    event_names: tuple[str, ...]

    @property
    def n_theta(self) -> int:
        """Length of the parameter vector."""
        return int(self.theta.shape[0])

    @property
    def n_companies(self) -> int:
        """Number of companies."""
        return len(self.company_names)

    @staticmethod
    def company_offset(c: int) -> int:
        """Slot of company ``c``'s record in theta."""
        return GLOBAL.size + c * COMPANY.size

    def slots(self, path: str) -> tuple[int, ...]:
        """Theta slots of a dotted path; ``ScenarioError`` naming it if it is not numeric."""
        try:
            return self.paths[path]
        except KeyError:
            raise ScenarioError(
                f"{path}: not a numeric scenario key (e.g. companies.{self.company_names[0]}"
                ".growth.long_run; see docs/scenario-reference.md)") from None


def build_layout(scenario: Scenario) -> ParameterLayout:
    """Flatten ``scenario`` into a :class:`ParameterLayout`."""
    theta: list[float] = list(GLOBAL.values(scenario))
    paths: dict[str, tuple[int, ...]] = {key: GLOBAL.slots(key) for key in GLOBAL.keys}
    for company in scenario.companies:
        offset = len(theta)
        theta.extend(COMPANY.values(company))
        for key in COMPANY.keys:
            paths[f"companies.{company.name}.{key}"] = tuple(offset + s for s in COMPANY.slots(key))

    events: list[list[int]] = []
    branch_slots: list[int] = []
    event_names: list[str] = []
    scoped = [(-1, "sector.events", e) for e in scenario.sector.events]
    for c, company in enumerate(scenario.companies):
        scoped += [(c, f"companies.{company.name}.events", e) for e in company.events]
    for company_index, prefix, event in scoped:
        slot = len(theta)
        theta.extend(EVENT.values(event))
        base = f"{prefix}.{event.name}"
        for key in EVENT.keys:
            paths[f"{base}.{key}"] = tuple(slot + s for s in EVENT.slots(key))
        branches = event.branches()
        events.append([company_index, slot, len(branch_slots), len(branches)])
        event_names.append(base)
        for branch in branches:
            bslot = len(theta)
            theta.extend(BRANCH.values(branch))
            branch_slots.append(bslot)
            # An event without outcomes is addressed directly (its one branch), and
            # its probability (always 1) is no key.
            bbase = f"{base}.outcomes.{branch.name}" if event.outcomes else base
            for key in BRANCH.keys:
                if key == "probability" and not event.outcomes:
                    continue
                if company_index >= 0 and key.split(".")[0] in SECTOR_ONLY_EFFECTS:
                    continue  # a company event has no market or platforms effect (its slots stay 0)
                paths[f"{bbase}.{key}"] = tuple(bslot + s for s in BRANCH.slots(key))
    return ParameterLayout(
        theta=np.asarray(theta, dtype=np.float64),
        events=np.asarray(events, dtype=np.int64).reshape(-1, len(EVENT_TABLE)),
        branches=np.asarray(branch_slots, dtype=np.int64),
        paths=paths,
        company_names=tuple(c.name for c in scenario.companies),
        event_names=tuple(event_names),
    )
