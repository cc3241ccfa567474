"""The test harness: one live server, a fake clock, a poll helper, a world builder and test
photos, shared by every test package (fixtures live in ``tests/conftest.py``)."""
