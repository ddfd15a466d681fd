"""The campaign-file reference, generated from the pydantic models: every table and field with
its type, default, constraints and description. `xbarlab schema --markdown` prints it;
docs/campaign_reference.md is its output (a test keeps the two equal)."""

from __future__ import annotations

import typing

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from xbarlab.campaign.config import (
    PulsedDeviceTarget,
    PulsedMatrix,
    SerialTarget,
    SimulatedTarget,
    SmuMatrixTarget,
)
from xbarlab.campaign.steps import STEP_TYPES, Region
from xbarlab.chip_drivers.pulsed_device import PulseCircuit
from xbarlab.instruments.safety import SafetyLimits

CONSTRAINTS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


def _type(annotation) -> str:
    text = str(annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")
    return text.replace("NoneType", "None").replace(" | ", " or ")


def _constraints(info: FieldInfo) -> str:
    out = []
    for meta in info.metadata:
        for attr, sign in CONSTRAINTS:
            value = getattr(meta, attr, None)
            if value is not None:
                out.append(f"{sign} {value:g}" if isinstance(value, float) else f"{sign} {value}")
    return ", ".join(out)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "(table)"
    return f"`{value!r}`"


def _models(annotation) -> list[type[BaseModel]]:
    """The tables a field takes: through Optional, unions and Annotated."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _kind(annotation) -> str:
    models = _models(annotation)
    if len(models) > 1 and all("kind" in m.model_fields for m in models):
        kinds = " \\| ".join(f'`"{m.model_fields["kind"].default}"`' for m in models)
        optional = " or none" if type(None) in typing.get_args(annotation) else ""
        return f"table with kind = {kinds}{optional}"
    return f"table ({models[0].__name__})" if models else _type(annotation)


def table(model: type[BaseModel]) -> str:
    rows = ["| field | type | default | constraint | description |", "|---|---|---|---|---|"]
    for name, info in model.model_fields.items():
        kind = _kind(info.annotation)
        rows.append(f"| `{name}` | {kind} | {_default(info)} | {_constraints(info)} | "
                    f"{(info.description or '').replace('|', chr(92) + '|')} |")
    return "\n".join(rows)


def reference_markdown() -> str:
    parts = ["# Campaign file reference", "",
             "Generated from the pydantic models by `xbarlab schema --markdown`; see "
             "[campaigns.md](campaigns.md) for how a campaign runs.", "",
             "## `[limits]`", "", table(SafetyLimits), "",
             "## `[target]`: one of", "",
             "`twin = \"chip.twin.h5\"` (a chip twin file, relative to the campaign file), or "
             "one of these tables:", ""]
    for name, model in (("simulated", SimulatedTarget), ("serial", SerialTarget),
                        ("smu_matrix", SmuMatrixTarget), ("pulsed_device", PulsedDeviceTarget)):
        parts += [f"### `[target.{name}]`", "", table(model), ""]
    parts += ["#### `[target.pulsed_device.circuit]`", "", table(PulseCircuit), ""]
    parts += ["#### `[target.pulsed_device.matrix]`", "", table(PulsedMatrix), ""]
    parts += ["## `[[steps]]`: one protocol table each", "",
              "`region` (where a step has it) is a table:", "", table(Region), ""]
    for name, model in STEP_TYPES.items():
        parts += [f"### `[steps.{name}]`", "", table(model), ""]
        for field, info in model.model_fields.items():
            sub = info.annotation
            if isinstance(sub, type) and issubclass(sub, BaseModel) and sub is not Region:
                parts += [f"#### `[steps.{name}.{field}]`", "", table(sub), ""]
    return "\n".join(parts).rstrip() + "\n"
