"""The wire protocol between the server and cameras, officers and dispatchers.

See ``docs/protocol.md`` for the documentation client writers read; the golden messages in
``fixtures/protocol/`` are round-tripped by the tests so the two cannot drift.
"""

from shared.protocol.base import PROTOCOL_VERSION, WireMessage
from shared.protocol.codec import ProtocolError

__all__ = ["PROTOCOL_VERSION", "ProtocolError", "WireMessage"]
