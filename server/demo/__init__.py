"""The self-contained demo: synthetic scenes and the orchestration behind ``vigil demo``."""
