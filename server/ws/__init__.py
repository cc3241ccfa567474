"""Websocket endpoints for cameras, officers and dispatchers, and live delivery."""
