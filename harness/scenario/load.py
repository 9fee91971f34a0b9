"""The load: users, shapes, the request mix and gateway changes during the run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from harness.scenario.chat import ChatSpec
from harness.scenario.comparison import ComparisonSpec
from harness.scenario.stack import GatewaySettings
from harness.scenario.templates import TemplateError, compile_template, compile_tree
from harness.scenario.values import (
    Address,
    Duration,
    FreeData,
    FreeText,
    Label,
    Offset,
    PositiveInt,
    _Model,
)

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


class UserIdSpec(_Model):
    """Where each request carries its user id: in the JSON ``body`` (the default body's key
    ``name``; a ``json`` template places ``{user_id}`` itself), or as a ``header``, a ``cookie``
    or a ``query`` parameter named ``name`` on every request."""

    in_: Literal["body", "header", "cookie", "query"] = Field(default="body", alias="in")
    name: Label = "user_id"


class RequestSpec(_Model):
    """One kind of request in the mix.

    ``path``, the values of ``query``, ``headers`` and ``cookies``, and every string in ``json``
    (or ``body``, a text body sent with ``content_type``) are templates over ``{user_id}``,
    ``{input}``, ``{label}``, ``{seq}`` and ``{row.FIELD}`` (:mod:`harness.scenario.templates`).
    Without ``json`` and ``body`` the body is ``{"user_id", "input", "label"?}`` plus ``fields``
    (which feature routing rules can match), in the query string for a GET or a DELETE."""

    name: Label = "answer"
    weight: PositiveInt = 1
    method: Method = "POST"
    path: Address = "/v1/answer"
    query: dict[Label, Address] = {}
    headers: dict[Label, Address] = {}
    cookies: dict[Label, Address] = {}
    json_: FreeData = Field(default=None, alias="json")
    body: FreeText | None = None
    content_type: Label | None = None
    fields: dict[Label, FreeData] = {}
    comparison: ComparisonSpec | None = None
    """This request kind's own comparator for the shadow (default: the scenario's)."""
    llm: ChatSpec | None = None
    """An OpenAI-compatible chat request (:mod:`harness.scenario.chat`): the body is built from
    it, the answer read as a (streamed) chat completion."""

    @model_validator(mode="after")
    def _llm_body(self) -> RequestSpec:
        own_body = self.json_ is not None or self.body is not None or self.fields
        if self.llm is not None and (own_body or self.method != "POST"):
            what = "an 'llm' request is a POST whose body the llm settings build"
            raise _problems([("llm", f"{what}: no 'json', 'body' or 'fields'")])
        return self

    @model_validator(mode="after")
    def _templates(self) -> RequestSpec:
        problems: list[tuple[str, str]] = []
        if self.json_ is not None and self.body is not None:
            problems.append(("json", "'json' and 'body' are exclusive; give one of them"))
        if self.fields and (self.json_ is not None or self.body is not None):
            problems.append(
                ("fields", "'fields' extend the default body only; with 'json' or 'body', "
                 "write them in the template")
            )  # fmt: skip
        if self.content_type is not None and self.body is None:
            problems.append(("content_type", "'content_type' goes with a text 'body'"))
        if self.method in ("GET", "DELETE") and (self.json_ is not None or self.body is not None):
            problems.append(("method", f"a {self.method} request sends no body; use 'query'"))
        for where, text in self._texts():
            try:
                compile_template(text)
            except TemplateError as err:
                problems.append((where, str(err)))
        if self.json_ is not None:
            try:
                compile_tree(self.json_, "json")
            except TemplateError as err:
                problems.append((err.path, str(err)))
        if problems:
            raise _problems(problems)
        return self

    def _texts(self) -> list[tuple[str, str]]:
        out = [("path", self.path)]
        for group in ("query", "headers", "cookies"):
            out += [(f"{group}.{k}", v) for k, v in getattr(self, group).items()]
        if self.body is not None:
            out.append(("body", self.body))
        return out

    def variables(self) -> list[tuple[str, str]]:
        """(field path, variable) of every variable the request's templates use."""
        out = [(w, v) for w, t in self._texts() for v in compile_template(t).variables]
        if self.json_ is not None:
            out += [("json", v) for v in compile_tree(self.json_).variables]
        if self.llm is not None:
            out += [("llm", v) for v in self.llm.variables()]
        return out


class DatasetSpec(_Model):
    """Your own traffic: a JSONL or CSV file of real inputs, streamed (never loaded whole).

    ``input`` names the row field sent as ``{input}``; ``expected`` the field holding the
    expected output (``{label}``, scored against the answer for quality). ``order``:
    ``sequential`` or ``random`` (seeded; drawn from a bounded shuffle buffer). ``loop: false``
    sends each row once and the run ends when the data does. ``share_out``: in master/worker
    mode each worker takes every ``worker_count``-th row, so no row is sent twice."""

    path: Address
    input: Label = "input"
    expected: Label | None = None
    order: Literal["sequential", "random"] = "sequential"
    loop: bool = True
    share_out: bool = True

    @field_validator("path")
    @classmethod
    def _resolve(cls, value: str, info: ValidationInfo) -> str:
        # Relative to the scenario file's folder, when the loader says which it is.
        if not value.lower().endswith((".jsonl", ".ndjson", ".csv")):
            raise ValueError(f"expected a .jsonl or .csv file, got {value!r}")
        base = (info.context or {}).get("scenario_dir") if info.context else None
        if base is not None and not Path(value).is_absolute():
            return str((Path(base) / value).resolve())
        return value

    def problems(self) -> list[str]:
        """What is wrong with the file itself (run at load time, not on the master's copy)."""
        path = Path(self.path)
        if path.is_file():
            return []
        what = "is a directory" if path.is_dir() else "does not exist"
        return [f"load.dataset.path: {self.path!r} {what}; expected a .jsonl or .csv file"]


def _problems(problems: list[tuple[str, str]]) -> ValueError:
    """The located problems as the loader reports them (one line per field path)."""
    from harness.scenario.model import _Problems  # model imports this module

    return _Problems(problems)


class Step(_Model):
    """From ``at`` on, run ``users`` users (``steps`` shape)."""

    at: Offset
    users: PositiveInt


class RateStage(_Model):
    """From ``at`` on, arrivals come at ``rate`` per second (``arrival_stages`` shape). With
    ``ramp: true`` the rate moves linearly from the previous stage's rate (at its ``at``) to
    this one's, reaching it at this ``at``; otherwise it steps there."""

    at: Offset
    rate: Annotated[float, Field(ge=0)]
    ramp: bool = False


#: Shapes of the open model: arrivals at a rate, whether or not earlier requests answered.
OPEN_SHAPES = ("arrival", "arrival_stages", "arrival_spike")


class GatewayChange(_Model):
    """At ``at``, change gateway settings through its admin API (progressive rollout)."""

    at: Offset
    set: GatewaySettings


class LoadSpec(_Model):
    """The load: how many users, in which shape, sending which requests.

    Shapes: ``constant`` (``users``), ``steps`` (``steps``), ``ramp`` (``start_users`` to
    ``users`` over the run), ``spike`` (``users``, then ``spike_users`` from ``spike_at`` for
    ``spike_for``), ``rate`` (``users`` paced to a total of ``rate`` requests/s: a closed model
    with constant-throughput users).

    Open-model shapes (:data:`OPEN_SHAPES`, :mod:`harness.load.arrivals`): requests arrive at a
    rate whether or not earlier ones answered, up to ``max_in_flight`` at once (an arrival
    that finds them all busy is dropped and counted): ``arrival`` (``rate`` per second),
    ``arrival_stages`` (``rate_stages``: steps and ramps of rates), ``arrival_spike``
    (``rate``, then ``spike_rate`` from ``spike_at`` for ``spike_for``). ``arrivals``:
    ``poisson`` (exponential gaps, seeded) or ``even`` (evenly spaced)."""

    shape: Literal[
        "constant", "steps", "ramp", "spike", "rate", "arrival", "arrival_stages", "arrival_spike"
    ] = "constant"
    users: PositiveInt = 10
    spawn_rate: Annotated[float, Field(gt=0)] = 50.0
    start_users: PositiveInt = 1
    steps: list[Step] = []
    spike_at: Offset | None = None
    spike_for: Offset | None = None
    spike_users: PositiveInt | None = None
    rate: Annotated[float, Field(gt=0)] | None = None
    rate_stages: list[RateStage] = []
    """Rates of the ``arrival_stages`` shape (0 arrivals/s before the first stage)."""
    spike_rate: Annotated[float, Field(gt=0)] | None = None
    """The ``arrival_spike`` shape's rate during the spike."""
    arrivals: Literal["poisson", "even"] = "poisson"
    """Open model: Poisson arrivals (from the scenario's seed) or evenly spaced ones."""
    max_in_flight: PositiveInt = 256
    """Open model: requests in flight at most, over all load processes (memory and sockets
    are finite); an arrival that finds them all busy is dropped (``dropped.csv``)."""
    graded_latency: Literal["response", "service"] | None = None
    """Which user latency the SLAs grade: ``response`` (from the intended arrival time: what
    a user arriving then waited) or ``service`` (from sending). Default: ``response`` for the
    open-model shapes, ``service`` for the closed ones (which have no intended time)."""
    wait_min: Duration = 0.0
    wait_max: Duration = 0.0
    population: PositiveInt = 1000
    """Distinct user ids (split stickiness is checked per user id)."""
    inputs: PositiveInt = 500
    """Distinct inputs (answers are deterministic per input)."""
    labels: bool = True
    """Send the ground-truth label so that accuracy and quality delta can be computed."""
    requests: list[RequestSpec] = Field(default_factory=lambda: [RequestSpec()])
    user_id: UserIdSpec = UserIdSpec()
    """Where each request carries its user id (body, header, cookie or query)."""
    dataset: DatasetSpec | None = None
    """Real inputs from a file instead of the generated ``q0``..``qN``."""
    locustfile: Address | None = None
    """A user's own locustfile instead of the built-in user; its requests are recorded too."""
    request_timeout: Duration = 10.0
    gateway_changes: list[GatewayChange] = []
    workers: Annotated[int, Field(ge=0)] = 0
    """Local Locust worker processes (0: run in the harness's own process)."""

    @model_validator(mode="after")
    def _shape_fields(self) -> LoadSpec:
        if self.shape == "steps" and not self.steps:
            raise ValueError("shape 'steps' needs a non-empty 'steps' list")
        if self.shape == "spike" and None in (self.spike_at, self.spike_for, self.spike_users):
            raise ValueError("shape 'spike' needs spike_at, spike_for and spike_users")
        if self.shape == "rate" and self.rate is None:
            raise ValueError("shape 'rate' needs 'rate' (requests per second)")
        if self.shape in ("arrival", "arrival_spike") and self.rate is None:
            raise ValueError(f"shape {self.shape!r} needs 'rate' (arrivals per second)")
        if self.shape == "arrival_spike" and None in (
            self.spike_at, self.spike_for, self.spike_rate
        ):  # fmt: skip
            raise ValueError("shape 'arrival_spike' needs spike_at, spike_for and spike_rate")
        if self.shape == "arrival_stages":
            if not self.rate_stages:
                raise ValueError("shape 'arrival_stages' needs a non-empty 'rate_stages' list")
            ats = [s.at for s in self.rate_stages]
            if ats != sorted(ats) or len(set(ats)) != len(ats):
                raise ValueError("rate_stages must be in increasing order of 'at'")
            if self.rate_stages[0].ramp:
                raise ValueError("the first of rate_stages cannot ramp (from what rate?)")
            if not any(s.rate > 0 for s in self.rate_stages):
                raise ValueError("rate_stages: at least one stage needs a rate above 0")
        if self.is_open and self.locustfile:
            raise ValueError(
                "an open-model shape sends the built-in request mix; a locustfile's users "
                "run in a closed shape (constant, steps, ramp, spike, rate)"
            )
        if self.graded_latency == "response" and not self.is_open:
            raise ValueError(
                "graded_latency 'response' needs an open-model shape (arrival, arrival_stages, "
                "arrival_spike): a closed model has no intended arrival time"
            )
        if self.wait_max < self.wait_min:
            raise ValueError("wait_max must be at least wait_min")
        problems: list[tuple[str, str]] = []
        for i, req in enumerate(self.requests):
            for where, var in req.variables():
                if var.startswith("row.") and self.dataset is None:
                    problems.append(
                        (f"requests[{i}].{where}",
                         f"{{{var}}} needs a dataset (load.dataset) to take rows from")
                    )  # fmt: skip
        if problems:
            raise _problems(problems)
        return self

    @property
    def is_open(self) -> bool:
        """An open-model shape (arrivals at a rate)."""
        return self.shape in OPEN_SHAPES

    def graded_latency_basis(self) -> Literal["response", "service"]:
        """Which user latency the SLAs grade (``graded_latency``, or its default)."""
        if self.graded_latency is not None:
            return self.graded_latency
        return "response" if self.is_open else "service"

    def peak_rate(self) -> float | None:
        """The highest arrival rate of an open-model shape (None for a closed one)."""
        if self.shape == "arrival_stages":
            return max(s.rate for s in self.rate_stages)
        if self.shape == "arrival_spike":
            return max(self.rate or 0.0, self.spike_rate or 0.0)
        if self.shape == "arrival":
            return self.rate
        return None

    def peak_users(self) -> int:
        """The most users this shape ever runs (an open model: one scheduler per process)."""
        if self.is_open:
            return 1
        if self.shape == "steps":
            return max(s.users for s in self.steps)
        if self.shape == "spike":
            return max(self.users, self.spike_users or 0)
        return self.users
