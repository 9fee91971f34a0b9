"""What a ``DualSystemUser`` sends: the scenario's weighted request mix, user ids and inputs.

Locust-free (so it is unit-testable in any process): :mod:`harness.load.users` hands each
user's HTTP client the keyword arguments :meth:`RequestMix.next_request` builds.

Each request kind is compiled once (:class:`RequestKind`: its templates, see
:mod:`harness.scenario.templates`); per request the mix picks a kind by weight, a user id, an
input (a generated ``qN``, or the next row of the scenario's dataset,
:class:`~harness.load.dataset.DatasetSource`) and renders the kind's method, path, query,
headers, cookies and body. The user id and the expected output travel to the recorder in
Locust's request ``context`` (``{"user_id", "label"?}``), as a user's own locustfile passes them.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from harness.datasync.loadside import WRITES
from harness.errors import ScenarioError
from harness.load.dataset import BadRows, DatasetSource, Row
from harness.load.llm import chat_body
from harness.scenario import RequestSpec, Scenario
from harness.scenario.load import DatasetSpec, UserIdSpec
from harness.scenario.templates import (
    Template,
    TreeTemplate,
    compile_template,
    compile_tree,
)

__all__ = ["RequestKind", "RequestMix", "UserConfig", "make_source"]


class RequestKind:
    """One request kind of the mix, its templates compiled once."""

    def __init__(self, spec: RequestSpec, user_id: UserIdSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.method = spec.method
        self.user_id = user_id
        self.path = compile_template(spec.path)
        self.query = {k: compile_template(v) for k, v in spec.query.items()}
        self.headers = {k: compile_template(v) for k, v in spec.headers.items()}
        self.cookies = {k: compile_template(v) for k, v in spec.cookies.items()}
        self.json: TreeTemplate | None = (
            compile_tree(spec.json_) if spec.json_ is not None else None
        )
        self.body: Template | None = compile_template(spec.body) if spec.body is not None else None
        self.json = chat_body(spec, user_id) or self.json  # an llm kind: its chat body
        self.content_type = spec.content_type or "text/plain; charset=utf-8"
        self.in_query = self.json is None and self.body is None and spec.method in ("GET", "DELETE")
        self.variables: tuple[str, ...] = tuple(v for _, v in spec.variables())
        # Per request, only what varies is rendered: a constant path is its text already.
        self._path_text = spec.path if self.path.constant else None
        #: The default request (no template but a constant path, the user id in the body, a
        #: JSON body): :meth:`RequestMix.next_request` builds it without :meth:`build`.
        self.plain: str | None = (
            self._path_text
            if not (self.query or self.headers or self.cookies or self.in_query)
            and self.json is None
            and self.body is None
            and user_id.in_ == "body"
            else None
        )

    def build(self, values: dict[str, Any], labelled: bool) -> tuple[str, str, dict[str, Any]]:
        """(method, path, request keyword arguments) for ``values`` (the template variables:
        ``user_id``, ``input``, ``label``, ``seq``, ``row``); raises
        :class:`~harness.scenario.templates.MissingField` for a row without a used field."""
        uid = self.user_id
        kwargs: dict[str, Any] = {"name": self.name}
        params = {k: t.render_text(values) for k, t in self.query.items()} if self.query else {}
        headers = (
            {k: t.render_text(values) for k, t in self.headers.items()} if self.headers else {}
        )
        cookies = (
            {k: t.render_text(values) for k, t in self.cookies.items()} if self.cookies else {}
        )
        if uid.in_ == "header":
            headers[uid.name] = str(values["user_id"])
        elif uid.in_ == "cookie":
            cookies[uid.name] = str(values["user_id"])
        elif uid.in_ == "query":
            params[uid.name] = str(values["user_id"])
        if self.json is not None:
            kwargs["json"] = self.json.render(values)
        elif self.body is not None:
            kwargs["data"] = self.body.render_text(values).encode("utf-8")
            headers.setdefault("Content-Type", self.content_type)
        else:
            body: dict[str, Any] = {}
            if uid.in_ == "body":
                body[uid.name] = values["user_id"]
            body["input"] = values["input"]
            if labelled:
                body["label"] = values["label"]
            if self.spec.fields:
                body.update(self.spec.fields)
            if self.in_query:
                params = {**{k: _text(v) for k, v in body.items()}, **params}
            else:
                kwargs["json"] = body
        if cookies:
            # FastHttpSession takes no ``cookies=``: one Cookie header, as a browser sends it.
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        if params:
            kwargs["params"] = params
        if headers:
            kwargs["headers"] = headers
        path = self._path_text
        return self.method, self.path.render_text(values) if path is None else path, kwargs


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


@dataclass
class UserConfig:
    """What every DualSystemUser of a run sends, derived from the scenario."""

    requests: list[RequestSpec]
    population: int
    inputs: int
    labels: bool
    seed: int
    wait_min: float
    wait_max: float
    pacing_rps: float | None  # per-user pacing (shape 'rate'), else None
    request_timeout: float
    user_id: UserIdSpec = field(default_factory=lambda: UserIdSpec())
    dataset: DatasetSpec | None = None
    kinds: list[RequestKind] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.kinds:
            self.kinds = [RequestKind(r, self.user_id) for r in self.requests]

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> UserConfig:
        """The configuration of ``scenario``'s users."""
        load = scenario.load
        pacing = None
        if load.shape == "rate" and load.rate:
            pacing = load.rate / load.users
        return cls(
            requests=list(load.requests),
            population=load.population,
            inputs=load.inputs,
            labels=load.labels,
            seed=scenario.seed,
            wait_min=load.wait_min,
            wait_max=load.wait_max,
            pacing_rps=pacing,
            request_timeout=load.request_timeout,
            user_id=load.user_id,
            dataset=load.dataset,
        )


def _truth() -> Callable[[str], str]:
    from harness.stack.answers import truth

    return truth


def make_source(
    config: UserConfig,
    worker_index: int = 0,
    worker_count: int = 1,
    bad_sink: Callable[[dict[str, Any]], None] | None = None,
) -> DatasetSource | None:
    """The process's dataset source (None without a dataset): the rows of this worker's share
    (``i % worker_count == worker_index`` with ``share_out``, else every row). Raises
    :class:`~harness.errors.ScenarioError` when the file is missing."""
    ds = config.dataset
    if ds is None:
        return None
    if problems := ds.problems():
        # before any user starts, not in a user's first request
        raise ScenarioError(ds.path, problems)
    # Every field a template uses is required of every row, so a row lacking one is a bad row
    # when it is read (reported with its line), never a request half built.
    used = [v[4:] for k in config.kinds for v in k.variables if v.startswith("row.")]
    required = tuple(dict.fromkeys([ds.input, *([ds.expected] if ds.expected else []), *used]))
    share = (worker_index, worker_count) if ds.share_out and worker_count > 1 else (0, 1)
    return DatasetSource(
        ds.path,
        required,
        order=ds.order,
        loop=ds.loop,
        seed=config.seed,
        share=share,
        bad=BadRows(ds.path, sink=bad_sink),
    )


class RequestMix:
    """One user's stream of requests. Seeded by the scenario's seed, the worker's index and the
    user's number, so the same scenario sends the same mix of users and inputs. With a dataset,
    the inputs come from ``source`` (shared by the users of a process)."""

    def __init__(
        self,
        config: UserConfig,
        worker: int,
        user: int,
        source: DatasetSource | None = None,
    ) -> None:
        self.config = config
        self._rng = random.Random(f"{config.seed}-{worker}-{user}")
        self._weights = [r.weight for r in config.requests]
        # What rng.choices(kinds, weights) computes on every call, once: the same draw (one
        # random() per request, bisected into the cumulative weights) picks the same kind.
        self._cum_weights = list(accumulate(self._weights))
        self._total = self._cum_weights[-1] + 0.0 if self._cum_weights else 0.0
        # rng.randrange(n) is rng._randbelow(n) after checking its arguments: the same numbers
        self._below: Callable[[int], int] = getattr(self._rng, "_randbelow", self._rng.randrange)
        self._truth = _truth() if config.labels and config.dataset is None else None
        self.source = source
        self.seq = 0
        if config.dataset is not None and source is None:
            raise ValueError("a scenario with a dataset needs its DatasetSource")

    def next_request(self) -> tuple[str, str, dict[str, Any]] | None:
        """(method, path, keyword arguments of the client's ``request``) of the next request,
        or None when the dataset is done. The keyword arguments: ``name`` (the request's name
        in the mix), ``context`` (user id and, when known, the expected output the recorder
        scores the answer against), and ``json``/``data``, ``params``, ``headers`` as the
        request kind's templates say."""
        cfg = self.config
        rng = self._rng
        kind = cfg.kinds[
            bisect(self._cum_weights, rng.random() * self._total, 0, len(cfg.kinds) - 1)
        ]
        below = self._below
        user_id = f"u{below(cfg.population)}"
        row: Row | None = None
        label: Any = None
        if self.source is not None:
            row = self.source.next()
            if row is None:
                return None
            ds = cfg.dataset
            assert ds is not None
            text = row.fields[ds.input]
            if ds.expected:
                label = row.fields[ds.expected]
        else:
            text = f"q{below(cfg.inputs)}"
            if self._truth is not None:
                label = self._truth(text)
        self.seq += 1
        context: dict[str, Any] = {"user_id": user_id}
        if label is not None:
            context["label"] = label
        if kind.spec.llm is not None:  # harness.load.llm.send_llm sends and measures it
            context["llm"] = kind.spec.llm
        path = kind.plain
        if path is not None:
            # what build() gives for it, without rendering anything
            body: dict[str, Any] = {kind.user_id.name: user_id, "input": text}
            if label is not None:
                body["label"] = label
            if kind.spec.fields:
                body.update(kind.spec.fields)
            kwargs = {"name": kind.name, "json": body, "context": context}
            return WRITES.plan(kind.method, path, kwargs)  # a write kind is plain too
        values = {
            "user_id": user_id,
            "input": text,
            "label": label,
            "seq": self.seq,
            "row": row.fields if row is not None else None,
        }
        # every row field a template uses is required of the rows (make_source)
        method, path, kwargs = kind.build(values, labelled=label is not None)
        kwargs["context"] = context
        return WRITES.plan(method, path, kwargs)  # write kinds (harness.datasync.loadside)
