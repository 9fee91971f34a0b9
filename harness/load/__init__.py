"""The load side: Locust users, load shapes, the Locust engine of a run, client records.

Importing this package does not import Locust; ``users``, ``shapes``, ``engine`` and ``worker``
do (and so patch their process with gevent). ``records``, ``mix``, ``progress``, ``admin`` and
``rollback`` do not: the run orchestrator (:mod:`harness.run`) uses them without Locust.
"""
