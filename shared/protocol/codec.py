"""Typed encoders and decoders for each role and direction, built once.

Decoding failures become :class:`ProtocolError` with a stable code, never a traceback.
Nesting deeper than :data:`~shared.protocol.limits.MAX_NESTING_DEPTH` is refused before
decoding (``nesting_too_deep``), by :mod:`shared.protocol.nesting`'s cheap scans: a decoder
recursing through thousands of levels would raise ``RecursionError`` instead.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from shared.protocol.base import ErrorCode
from shared.protocol.camera import CameraIn, CameraOut
from shared.protocol.dispatch import DispatchIn, DispatchOut
from shared.protocol.limits import MAX_NESTING_DEPTH
from shared.protocol.nesting import MAX_MSGPACK_VALUES, json_depth_exceeds, msgpack_shape_error
from shared.protocol.officer import OfficerIn, OfficerOut

T = TypeVar("T")


class ProtocolError(Exception):
    """A message could not be decoded or is not allowed here."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class JsonCodec(Generic[T]):
    """JSON codec for one union of message types."""

    def __init__(self, union: Any) -> None:
        self._decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(union)
        self._encoder = msgspec.json.Encoder()

    def decode(self, data: bytes | str) -> T:
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        if json_depth_exceeds(raw, MAX_NESTING_DEPTH):
            raise ProtocolError(ErrorCode.NESTING_TOO_DEEP,
                                f"nesting deeper than {MAX_NESTING_DEPTH} levels")
        try:
            return self._decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise ProtocolError(ErrorCode.BAD_MESSAGE, str(exc)) from exc
        except RecursionError as exc:  # backstop: the scan above should have refused it
            raise ProtocolError(ErrorCode.NESTING_TOO_DEEP, "nesting too deep") from exc

    def encode(self, message: Any) -> bytes:
        return self._encoder.encode(message)


class MsgpackCodec(Generic[T]):
    """msgpack codec for one union of message types."""

    def __init__(self, union: Any) -> None:
        self._decoder: msgspec.msgpack.Decoder[T] = msgspec.msgpack.Decoder(union)
        self._encoder = msgspec.msgpack.Encoder()

    def decode(self, data: bytes) -> T:
        shape = msgpack_shape_error(data, MAX_NESTING_DEPTH)
        if shape == "depth":
            raise ProtocolError(ErrorCode.NESTING_TOO_DEEP,
                                f"nesting deeper than {MAX_NESTING_DEPTH} levels")
        if shape == "values":
            raise ProtocolError(ErrorCode.BAD_MESSAGE,
                                f"more than {MAX_MSGPACK_VALUES} values in one message")
        try:
            return self._decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise ProtocolError(ErrorCode.BAD_MESSAGE, str(exc)) from exc
        except RecursionError as exc:  # backstop: the scan above should have refused it
            raise ProtocolError(ErrorCode.NESTING_TOO_DEEP, "nesting too deep") from exc

    def encode(self, message: Any) -> bytes:
        return self._encoder.encode(message)


# Server side: decode what clients send, encode what the server sends.
camera_in: MsgpackCodec[CameraIn] = MsgpackCodec(CameraIn)
camera_out: MsgpackCodec[CameraOut] = MsgpackCodec(CameraOut)
officer_in: JsonCodec[OfficerIn] = JsonCodec(OfficerIn)
officer_out: JsonCodec[OfficerOut] = JsonCodec(OfficerOut)
dispatch_in: JsonCodec[DispatchIn] = JsonCodec(DispatchIn)
dispatch_out: JsonCodec[DispatchOut] = JsonCodec(DispatchOut)
