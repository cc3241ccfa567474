"""Pure domain rules (no I/O): the alert state machine and officer assignment."""
