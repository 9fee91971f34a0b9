"""The run's hand on the gateway: rollout steps, the live rollback check, and putting it back.

::

    every second  RollbackGuard.step(elapsed)  due gateway_changes -> admin API (rollout steps)
                  RollbackGuard.check()        immediate triggers on the live window of client
                                               records -> trigger_fired, kill switch
    at the end    RollbackGuard.close()        an external gateway's settings as they were

The check judges what users' requests showed of the AI (served by it, or fallen back from it),
so it works with any gateway whose headers say who answered. It computes each trigger's quantity
by :mod:`harness.rules`, the definitions grading uses after the run, and acts once the window
holds ``min_samples`` AI calls and the Wilson interval is wholly past the limit.
"""

from __future__ import annotations

from typing import Any

from harness.load.admin import GatewayAdmin
from harness.load.records import LiveWindow
from harness.rules import TRIGGERS, bad_limit, window_fires
from harness.rundir import EventLog
from harness.scenario import GatewaySettings, Scenario

__all__ = ["RollbackGuard"]


class RollbackGuard:
    """Drives the gateway during one run; ``notes`` are lines for the progress view."""

    def __init__(
        self, scenario: Scenario, live: LiveWindow, events: EventLog, admin: GatewayAdmin | None
    ) -> None:
        self.scenario = scenario
        self.live = live
        self.events = events
        self.admin = admin
        self.changes = sorted(scenario.load.gateway_changes, key=lambda c: c.at)
        self.kill_switch_on = False
        self.holding = False
        self.saved: dict[str, Any] | None = None
        self.notes: list[str] = []

    def step(self, elapsed: float) -> None:
        """Apply the gateway changes due ``elapsed`` seconds into the run."""
        while self.changes and self.changes[0].at <= elapsed:
            change = self.changes.pop(0)
            assert self.admin is not None  # the runner refuses changes without an admin API
            self._save()
            now = self.admin.apply(change.set)
            self.events.log(
                "gateway_set",
                settings=change.set.model_dump(exclude_none=True),
                planned_at=change.at,
                now=now,
            )

    def check(self, now: float | None = None) -> None:
        """Immediate rollback triggers on the last grading window; flip the kill switch when
        one starts to hold and the scenario asks for it.

        Each trigger's quantity is :mod:`harness.rules`' (the one grading judges): AI
        availability counts AI calls that found no AI, not every error. A trigger fires when
        the window has ``min_samples`` AI calls and the Wilson interval of its bad rate is
        wholly past the limit (:func:`harness.rules.window_fires`), so chance alone on a
        system inside its limits does not flip a user's kill switch. ``now`` (epoch seconds,
        default: the clock) is the end of the window judged: a replay of records passes it."""
        g = self.scenario.grading
        t = g.triggers
        # Whole seconds: the live window counts per-second buckets (a shortened run's window
        # can be under a second, which would judge a partial bucket alone).
        seconds = max(2.0, round(g.window))
        w = self.live.stats(seconds, now)
        fired: tuple[str, float, float] | None = None
        for trig in TRIGGERS:
            threshold = float(getattr(t, trig.setting))
            k, n = w.bad(trig), w.ai_attempts
            if window_fires(
                k,
                n,
                bad_limit(trig, threshold),
                min_samples=g.min_samples,
                confidence=g.confidence,
            ):
                rate = k / n
                fired = (trig.name, 1 - rate if trig.invert else rate, threshold)
                break
        if fired is not None and not self.holding:
            name, value, threshold = fired
            self.events.log(
                "trigger_fired",
                **({} if now is None else {"ts": now}),
                trigger=name,
                value=value,
                threshold=threshold,
                window=seconds,
                samples=w.ai_attempts,
            )
            self.notes.append(f"rollback trigger {name} fired ({value:.0%} vs {threshold:.0%})")
            if g.rollback.auto_kill_switch and not self.kill_switch_on and self.admin:
                self._save()
                self.admin.kill_switch(True)
                self.kill_switch_on = True
                self.events.log(
                    "kill_switch",
                    on=True,
                    reason=f"trigger {name} fired",
                    **({} if now is None else {"ts": now}),
                )
                self.notes.append("kill switch flipped: 100% to legacy")
        self.holding = fired is not None

    def _save(self) -> None:
        """Remember the gateway's settings before the run first changes them."""
        if self.saved is None and self.admin is not None:
            self.saved = self.admin.settings()

    def close(self) -> None:
        """Put back what the run changed on an external gateway (kill switch, share, pattern):
        a user's own gateway must not be left rolled back or at the rollout's last step. The
        embedded gateway is the run's own and is stopped next."""
        if self.admin is None:
            return
        try:
            if self.saved is not None and self.scenario.stack.mode == "external":
                fields = GatewaySettings.model_fields
                before = {k: v for k, v in self.saved.items() if k in fields and v is not None}
                self.admin.apply(GatewaySettings.model_validate(before))
                self.events.log("gateway_restored", settings=before)
        finally:
            self.admin.close()
