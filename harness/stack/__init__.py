"""The embedded system under test: demo legacy and AI services and the migration gateway.

::

    answers.py    deterministic answers (truth, legacy, AI): pure, cheap, importable anywhere
    services.py   the demo legacy and AI services (capacity, latency model, error rate)
    gateway.py    the migration gateway: routing, kill switch, records
    control.py    the gateway's health, metrics and admin routes (starlette)
    patterns.py   shadow, split, fallback, feature behind one RoutingPattern protocol
    rules.py      feature routing rules (pure: the gateway and analysis share it)
    breaker.py    the fallback pattern's circuit breaker
    exchange.py   one request through the gateway, and the decision record it becomes
    backend.py    the gateway's backend clients and the outcome of a call
    metrics.py    the gateway's Prometheus metrics
    config.py     the children's configuration as plain dataclasses (JSON in, no pydantic)
    asgi.py       the gateway's hot path in plain ASGI (the rest uses starlette)
    server.py     runs an ASGI app as a child process under uvicorn
    launcher.py   Stack: start, check and stop the whole stack; ``dualsys serve``

This package imports nothing heavy itself: the load users import :mod:`harness.stack.answers`
(for :func:`~harness.stack.answers.truth`) in a gevent-patched process. Import the parts from
their modules.
"""

__all__: list[str] = []
