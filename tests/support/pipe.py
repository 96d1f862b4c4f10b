"""One direction of an in-memory node link, for tests that wire two `Peer`s to each other."""

from __future__ import annotations

import asyncio

from corral.protocol.peer import Peer

__all__ = ["Pipe"]


class Pipe:
    """What one side sends is queued, and a pump task feeds it to the other side's peer, so a
    handler never runs inside the sender's call."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.receiver: Peer | None = None

    async def send_text(self, text: str) -> None:
        await self.queue.put(text)

    async def send_bytes(self, data: bytes) -> None:
        await self.queue.put(data)

    async def pump(self) -> None:
        """Deliver frames in order; a `ProtocolError` ends the pump, as it drops a real link."""
        assert self.receiver is not None
        while True:
            frame = await self.queue.get()
            try:
                if isinstance(frame, str):
                    await self.receiver.handle_text(frame)
                else:
                    await self.receiver.handle_bytes(frame)
            finally:
                self.queue.task_done()

    async def drained(self) -> None:
        """Wait until the other side has handled everything sent so far."""
        await self.queue.join()
