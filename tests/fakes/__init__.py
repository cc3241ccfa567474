"""Deterministic stand-ins the tests inject instead of real models (never used by the server
itself: tests pass them to ``create_app``)."""
