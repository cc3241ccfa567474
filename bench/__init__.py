"""Vigil's benchmarks: ``python -m bench [--quick | --full]`` (``make bench``, ``bench-quick``).

Every figure is measured against a baseline in the same run (exact search, a bare websockets
broadcast server, the dlib engine, an idle event loop), because absolute times drift on a
shared machine. Results go to ``bench/results/latest.json`` and ``latest.md``; see
``bench/README.md`` for the keys. Performance claims come from here, never from timed tests.
"""
