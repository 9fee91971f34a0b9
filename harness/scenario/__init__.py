"""The scenario model: what one run does, loaded from YAML and validated on load.

A scenario file is the contract between a user and the harness. Its shape (version 1)::

    version: 1
    name: fallback_ai_outage          # slug: letters, digits, _ and -
    description: one line for `dualsys list`
    duration: 60s                     # durations: 500ms, 90s, 2m, 1h, or a number of seconds
    seed: 7
    stack:                            # the system under test
      mode: embedded                  # embedded (default) | external
      gateway: {pattern: fallback, fallback_timeout: 300ms, ai_share: 10%, ...}
      legacy: {latency: {p50: 20ms, p99: 60ms}, error_rate: 0, capacity: 64, ...}
      ai:     {latency: {p50: 120ms, p99: 400ms}, error_rate: 0.5%, agreement: 92%, ...}
      external: {gateway_url: ..., admin_url: ..., headers: {...}}   # mode: external only
    faults:
      toxiproxy_url: null             # null: the embedded fault proxy (TOXIPROXY_URL overrides)
      proxies: [{name: legacy}, {name: ai}]
    load: {shape: constant, users: 20, ...}
    chaos:
      - {at: 20s, for: 15s, target: ai, action: down}
      - {at: 40s, for: 10s, target: ai, toxic: {type: latency, attributes: {latency: 800}}}
    grading: {window: 5s, slas: {...}, alerts: {...}, triggers: {...}, cost: {...}}

Every field is documented on its model, in the modules of this package. Shares accept a
fraction (``0.1``) or a percentage string (``"10%"``). Two kinds of time exist:
:data:`Duration` (a timeout, a latency: never scaled) and :data:`Offset` (a time in the run:
``duration``, ``at``, ``for``; scaled by ``--duration-scale`` so that tests can run a scenario
in seconds).

Loading never raises anything but :class:`~harness.errors.ScenarioError`, whose message names the
file, the field path (``chaos[1].toxic.attributes.latency``) and what was expected.

Modules, one concept each (everything public is re-exported here)::

    values.py    parse_duration, parse_share, Duration, Offset, Share, is_loopback, the text
                 types (Label, Address, FreeText, FreeData)
    stack.py     the system under test: services, gateway, patterns, external stack
    faults.py    toxics (TOXIC_ATTRIBUTES), chaos events, fault proxies
    load.py      users, shapes, the request mix, gateway changes
    grading.py   SLAs, alerts, rollback triggers, cost, rollback, capacity
    model.py     Scenario: cross-field checks, scaling, YAML out
    loading.py   parse_scenario, load_scenario and their messages
    yamlread.py  reading YAML within bounds (size, depth, aliases, duplicate keys)
    timeline.py  timeline_warnings: faults too close together to be told apart
"""

from harness.scenario.faults import TOXIC_ATTRIBUTES, ChaosEvent, ToxicSpec
from harness.scenario.faults import FaultsSpec as FaultsSpec
from harness.scenario.faults import ProxySpec as ProxySpec
from harness.scenario.faults import ToxicType as ToxicType
from harness.scenario.grading import AlertSpec as AlertSpec
from harness.scenario.grading import CapacitySpec as CapacitySpec
from harness.scenario.grading import CostModel as CostModel
from harness.scenario.grading import GradingSpec as GradingSpec
from harness.scenario.grading import RollbackSpec as RollbackSpec
from harness.scenario.grading import SLAs as SLAs
from harness.scenario.grading import SLASpec as SLASpec
from harness.scenario.grading import TriggerSpec as TriggerSpec
from harness.scenario.llm import LlmSpec as LlmSpec
from harness.scenario.load import GatewayChange as GatewayChange
from harness.scenario.load import LoadSpec, RequestSpec
from harness.scenario.load import Step as Step
from harness.scenario.loading import load_scenario, parse_scenario
from harness.scenario.model import SCENARIO_VERSION as SCENARIO_VERSION
from harness.scenario.model import Scenario
from harness.scenario.stack import (
    CircuitBreakerSpec,
    CostSpec,
    FeatureRule,
    GatewaySettings,
    GatewaySpec,
    HeaderMap,
    LatencySpec,
    ServiceSpec,
)
from harness.scenario.stack import ExternalSpec as ExternalSpec
from harness.scenario.stack import Pattern as Pattern
from harness.scenario.stack import StackSpec as StackSpec
from harness.scenario.timeline import timeline_warnings
from harness.scenario.values import Duration, Offset, is_loopback, parse_duration, parse_share
from harness.scenario.values import NonNegative as NonNegative
from harness.scenario.values import PositiveInt as PositiveInt
from harness.scenario.values import Share as Share
from harness.scenario.writes import WritesSpec as WritesSpec

# The API used across the repo and documented. The other models (StackSpec, GradingSpec, ...) are
# re-exported above with ``as`` so that every import of the former single module keeps working.
__all__ = [
    "TOXIC_ATTRIBUTES",
    "ChaosEvent",
    "CircuitBreakerSpec",
    "CostSpec",
    "Duration",
    "FeatureRule",
    "GatewaySettings",
    "GatewaySpec",
    "HeaderMap",
    "LatencySpec",
    "LoadSpec",
    "Offset",
    "RequestSpec",
    "Scenario",
    "ServiceSpec",
    "ToxicSpec",
    "is_loopback",
    "load_scenario",
    "parse_duration",
    "parse_scenario",
    "parse_share",
    "timeline_warnings",
]
