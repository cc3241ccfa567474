"""Tests of the dispatcher console and the shared websocket client."""
