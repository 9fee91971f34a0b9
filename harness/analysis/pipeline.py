"""One pass of analysis over a loaded run: every figure of the metrics (:class:`~.model.Metrics`),
the window frame, and the rolling conditions grading evaluates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.analysis.capacity import capacity_figures, data_loss, load_figures
from harness.analysis.comparison import compare, with_shadow_populations
from harness.analysis.cost import cost_figures
from harness.analysis.data import Population, RunData, load_run, populations
from harness.analysis.datasync import data_sync
from harness.analysis.detection import Condition, RollingState, conditions, detection, rolling
from harness.analysis.feature import feature_figures
from harness.analysis.llm import llm_figures
from harness.analysis.model import Metrics, PerSystem
from harness.analysis.openmodel import open_model_figures
from harness.analysis.rollout import rollout_figures
from harness.analysis.routing import fallback_figures, split_figures
from harness.analysis.systems import _num, fault_phases, summarise
from harness.analysis.windows import Bins, window_frame

if TYPE_CHECKING:
    import pandas as pd

    from harness.rundir import RunDir

__all__ = ["Analysis", "analyse", "analyse_run"]


@dataclass
class Analysis:
    """What analysis found: the JSON-ready ``metrics``, the ``windows`` frame, and what grading
    needs besides (populations, rolling conditions)."""

    data: RunData
    pops: dict[str, Population]
    bins: Bins
    conditions: list[Condition]
    states: dict[str, RollingState]
    metrics: Metrics
    windows: pd.DataFrame


def analyse(data: RunData) -> Analysis:
    """Compute every metric of a loaded run (see :mod:`harness.analysis` for the keys)."""
    g = data.scenario.grading
    conf = g.confidence
    # the harness shadow's calls are the systems' samples when no gateway records them
    pops = with_shadow_populations(data, populations(data))
    user = pops["user"]
    per_system: PerSystem = {
        "user": summarise(user, user_requests=user.n, duration=data.duration, confidence=conf),
        "legacy": summarise(
            pops["legacy"], user_requests=user.n, duration=data.duration, confidence=conf
        ),
        "ai": summarise(pops["ai"], user_requests=user.n, duration=data.duration, confidence=conf),
    }
    bins = Bins.for_run(data.duration, g.window, g.rollback.check_every)
    conds = conditions(data, pops, bins)
    states = {c.id: rolling(c, bins, g.min_samples, conf) for c in conds}
    load = load_figures(data, user)
    llm = llm_figures(data)  # None unless the run has LLM requests
    metrics: Metrics = {
        "run": {
            "status": data.status,
            "t0": data.t0,
            "duration_s": _num(data.duration),
            "planned_duration_s": data.scenario.duration,
            "pattern": data.scenario.stack.gateway.pattern,
            "mode": data.scenario.stack.mode,
            "window_s": g.window,
            "rolling_step_s": bins.step,
            "min_samples": g.min_samples,
            "confidence": conf,
            "records": {"requests": len(data.requests), "decisions": len(data.decisions)},
            "sources": {"user": user.source, "systems": pops["ai"].source},
        },
        "load": load,
        "per_system": per_system,
        "comparison": compare(data, pops, conf),
        "fallback": fallback_figures(data, pops, conf),
        "split": split_figures(data, conf),
        "routing": feature_figures(data, conf),
        "rollout": rollout_figures(data, pops, conf),
        "faults": fault_phases(data, pops, conf),
        "detection": detection(data, conds, states, bins),
        "cost": cost_figures(data, pops, load["rps"] or 0.0, llm),
        "capacity": capacity_figures(data, user, conf),
        "data_loss": data_loss(data),
    }
    if (open_model := open_model_figures(data, conf)) is not None:
        metrics["open_model"] = open_model
    if llm is not None:
        metrics["llm"] = llm
    if data.scenario.writes is not None:  # the write path (harness.analysis.datasync)
        metrics["data_sync"] = data_sync(data)
    return Analysis(
        data=data,
        pops=pops,
        bins=bins,
        conditions=conds,
        states=states,
        metrics=metrics,
        windows=window_frame(data, pops, g.window),
    )


def analyse_run(run: RunDir) -> Analysis:
    """Load and analyse a run directory (no grading, nothing written)."""
    return analyse(load_run(run))
