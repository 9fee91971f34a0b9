"""The scenario: one run's stack, load, faults and grading, checked across fields and scaled."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, Field, field_validator, model_validator

from harness.scenario.comparison import ComparisonSpec
from harness.scenario.faults import ChaosEvent, FaultsSpec, http_toxics_on_real_server
from harness.scenario.grading import GradingSpec
from harness.scenario.llmgrade import LlmGrading
from harness.scenario.load import LoadSpec
from harness.scenario.shadow import ShadowSpec, shadow_problems
from harness.scenario.stack import StackSpec
from harness.scenario.values import FreeText, Offset, _Model, _Scaled, is_loopback
from harness.scenario.writes import WritesSpec, writes_problems

SCENARIO_VERSION = 1


class Scenario(_Model):
    """One run: the system under test, the load, the faults and how it is graded."""

    version: Literal[1] = 1
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$", max_length=64)]
    description: FreeText = ""
    duration: Annotated[Offset, Field(gt=0)]
    seed: int = 0
    stack: StackSpec = StackSpec()
    faults: FaultsSpec = FaultsSpec()
    load: LoadSpec = LoadSpec()
    chaos: list[ChaosEvent] = []
    grading: GradingSpec = GradingSpec()
    comparison: ComparisonSpec = ComparisonSpec()
    llm: LlmGrading = LlmGrading()
    """LLM answers: the price table per model, TTFT/ITL/tokens-per-second SLAs, rate limits."""
    writes: WritesSpec | None = None
    """The write path and its stores (harness.scenario.writes); None: reads only."""
    shadow: ShadowSpec | None = None
    """The harness shadows users' requests to the other system (:mod:`.shadow`)."""

    @field_validator("description")
    @classmethod
    def _one_line(cls, v: str) -> str:
        return " ".join(v.split())

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        problems: list[tuple[str, str]] = []
        names = [p.name for p in self.faults.proxies]
        for i, ev in enumerate(self.chaos):
            if ev.target not in names:
                problems.append(
                    (
                        f"chaos[{i}].target",
                        f"expected one of the proxies {names}, got {ev.target!r}",
                    )
                )
            if ev.at >= self.duration:
                problems.append(
                    (
                        f"chaos[{i}].at",
                        f"expected a time before the end of the run "
                        f"({self.duration:g}s), got {ev.at:g}s",
                    )
                )
            elif ev.for_ is not None and ev.at + ev.for_ > self.duration + 1e-9:
                problems.append(
                    (
                        f"chaos[{i}].for",
                        f"the fault would end at {ev.at + ev.for_:g}s, "
                        f"past the end of the run ({self.duration:g}s)",
                    )
                )
        for i, ch in enumerate(self.load.gateway_changes):
            if ch.at >= self.duration:
                problems.append(
                    (
                        f"load.gateway_changes[{i}].at",
                        f"expected a time before the end of the run ({self.duration:g}s)",
                    )
                )
        for i, st in enumerate(self.load.steps):
            if st.at >= self.duration:
                problems.append(
                    (
                        f"load.steps[{i}].at",
                        f"expected a time before the end of the run ({self.duration:g}s)",
                    )
                )
        if self.load.spike_at is not None and self.load.spike_at >= self.duration:
            problems.append(("load.spike_at", "expected a time before the end of the run"))
        if self.stack.mode == "embedded" and not {"legacy", "ai"} <= set(names):
            problems.append(
                ("faults.proxies", "the embedded stack needs proxies named 'legacy' and 'ai'")
            )
        ext = self.stack.external
        if self.stack.mode == "external" and ext is not None and ext.admin_url is None:
            # Both act on the gateway through its admin API; without one the run could only
            # refuse mid-way (the kill switch is first needed when a trigger fires).
            if self.grading.rollback.auto_kill_switch:
                problems.append(
                    (
                        "grading.rollback.auto_kill_switch",
                        "flipping the kill switch needs the gateway's admin API: "
                        "set stack.external.admin_url, or auto_kill_switch: false",
                    )
                )
            if self.load.gateway_changes:
                problems.append(
                    (
                        "load.gateway_changes",
                        "changing gateway settings needs the gateway's admin API: "
                        "set stack.external.admin_url, or remove the changes",
                    )
                )
        if self.llm.prices:  # a priced run prices every model it asks for
            for i, req in enumerate(self.load.requests):
                if req.llm is not None and self.llm.price(req.llm.model) is None:
                    problems.append(
                        (f"load.requests[{i}].llm.model",
                         f"no price for {req.llm.model!r} in llm.prices")
                    )  # fmt: skip
        problems += writes_problems(self)
        problems.extend(shadow_problems(self))
        if len(set(names)) != len(names):
            problems.append(("faults.proxies", "proxy names must be unique"))
        problems.extend(http_toxics_on_real_server(self.faults, self.chaos))
        if not self.faults.allow_non_loopback:
            for label, addr in self._addresses():
                if not is_loopback(addr):
                    problems.append(
                        (
                            label,
                            f"{addr!r} is not a loopback address; load and chaos "
                            "go only to this machine unless "
                            "faults.allow_non_loopback is true",
                        )
                    )
        if problems:
            raise _Problems(problems)
        return self

    def _addresses(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.faults.toxiproxy_url:
            out.append(("faults.toxiproxy_url", self.faults.toxiproxy_url))
        for i, p in enumerate(self.faults.proxies):
            out.append((f"faults.proxies[{i}].listen", p.listen))
            if p.upstream:
                out.append((f"faults.proxies[{i}].upstream", p.upstream))
        if self.stack.external:
            out.append(("stack.external.gateway_url", self.stack.external.gateway_url))
            if self.stack.external.admin_url:
                out.append(("stack.external.admin_url", self.stack.external.admin_url))
        return out

    # ----------------------------------------------------------------------------------------

    def scaled(self, factor: float) -> Scenario:
        """A copy with every :data:`Offset` (run length, event times) multiplied by ``factor``.
        Timeouts and latencies (:data:`Duration`) keep their values."""
        if factor <= 0:
            raise ValueError("the duration scale must be positive")
        data = _scale(self, factor)
        return Scenario.model_validate(data)

    def to_yaml(self) -> str:
        """The resolved scenario (every default filled in), as written to the run directory."""
        data = self.model_dump(mode="json", by_alias=True)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


class _Problems(ValueError):
    """Several located problems found by a cross-field check."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{loc}: {msg}" for loc, msg in problems))


def _is_offset(metadata: list[Any], annotation: Any) -> bool:
    """True when a field is an :data:`Offset`, also inside ``Offset | None``."""
    if any(isinstance(m, _Scaled) for m in metadata):
        return True
    return any(
        any(isinstance(m, _Scaled) for m in getattr(arg, "__metadata__", ()))
        for arg in get_args(annotation)
    )


def _scale(model: BaseModel, factor: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        key = info.alias or name
        if value is not None and _is_offset(info.metadata, info.annotation):
            out[key] = value * factor
        elif isinstance(value, BaseModel):
            out[key] = _scale(value, factor)
        elif isinstance(value, list):
            out[key] = [_scale(v, factor) if isinstance(v, BaseModel) else v for v in value]
        else:
            out[key] = value
    return out
