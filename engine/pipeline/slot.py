"""Latest-frame-wins hand-off between two async stages."""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds at most one item. `put` never waits: a newer item replaces one not yet taken
    (counted in `dropped`). `get` waits for an item, or returns None once closed and
    empty. Use from one event loop."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._ready = asyncio.Event()
        self._closed = False
        self.dropped = 0
        self.passed = 0

    def put(self, item: T) -> T | None:
        """Offer `item`; returns the item it replaced (dropped), if any."""
        if self._closed:
            raise RuntimeError("put on a closed slot")
        replaced = self._item
        if replaced is not None:
            self.dropped += 1
        self._item = item
        self._ready.set()
        return replaced

    def close(self) -> None:
        """No more items: a waiting `get` returns the last item, then None."""
        self._closed = True
        self._ready.set()

    @property
    def closed(self) -> bool:
        return self._closed

    def newer(self, item: T) -> T:
        """`item` (taken from this slot earlier), or the newer item waiting here, which
        replaces it (counted in `dropped`)."""
        if self._item is None:
            return item
        newer, self._item = self._item, None
        self.dropped += 1
        self.passed += 1
        return newer

    async def get(self) -> T | None:
        while self._item is None:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        item, self._item = self._item, None
        self.passed += 1
        return item
