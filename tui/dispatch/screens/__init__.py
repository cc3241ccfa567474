"""Screens of the dispatcher console: main (queue and panels), detail, and the modals."""
