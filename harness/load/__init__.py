"""The load side: Locust users, load shapes, local and distributed runs, client records.

Importing this package does not import Locust; ``users``, ``shapes``, ``runner`` and ``worker``
do (and so patch their process with gevent). ``records``, ``progress`` and ``admin`` do not.
"""
