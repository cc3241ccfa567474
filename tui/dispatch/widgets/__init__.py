"""Widgets of the dispatcher console; each renders part of the state and holds none of it."""
