"""The dispatcher console: a Textual client of the server's ``/ws/dispatch`` socket.

``state`` is plain Python (testable alone); ``app``, ``screens`` and ``widgets`` render it.
"""
