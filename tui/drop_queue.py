"""A bounded queue that drops its oldest item when full (a live source wants the newest)."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class QueueClosed(Exception):
    """The queue was closed and holds nothing more."""


class DropOldestQueue(Generic[T]):
    """A bounded queue that makes room by dropping its oldest item (and counting it).

    Single-consumer; ``put`` never blocks, so a fast source can never stall or grow memory.
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.dropped = 0
        self._items: deque[T] = deque()
        self._ready = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, item: T) -> T | None:
        """Add an item; returns the item dropped to make room, if any."""
        if self._closed:
            raise QueueClosed("queue is closed")
        dropped = None
        if len(self._items) >= self.maxsize:
            dropped = self._items.popleft()
            self.dropped += 1
        self._items.append(item)
        self._ready.set()
        if len(self._items) >= self.maxsize:
            self._space.clear()
        return dropped

    async def get(self) -> T:
        """The oldest item; waits for one. Raises :class:`QueueClosed` once closed and empty."""
        while not self._items:
            if self._closed:
                raise QueueClosed("queue is closed")
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        self._space.set()
        return item

    async def wait_for_space(self) -> None:
        """Wait until a ``put`` would not drop anything (or the queue is closed)."""
        while len(self._items) >= self.maxsize and not self._closed:
            self._space.clear()
            await self._space.wait()

    def close(self, *, discard: bool = False) -> None:
        """No more puts; ``get`` drains what is left (or nothing with ``discard``)."""
        self._closed = True
        if discard:
            self._items.clear()
        self._ready.set()
        self._space.set()
