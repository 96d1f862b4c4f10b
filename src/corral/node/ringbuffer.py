"""A terminal's replay ring: the latest output, addressed by absolute offset."""

from __future__ import annotations

__all__ = ["RingBuffer"]


class RingBuffer:
    """The last `capacity` bytes of a stream, addressed by absolute offset (bytes ever written)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.end = 0
        self._buf = bytearray()  # grows up to `capacity`, then wraps around

    @property
    def start(self) -> int:
        """The offset of the oldest byte kept."""
        return max(0, self.end - self.capacity)

    def __len__(self) -> int:
        return len(self._buf)

    def write(self, data: bytes) -> None:
        if len(data) > self.capacity:
            self.end += len(data) - self.capacity
            data = data[-self.capacity :]
        pos = self.end % self.capacity
        first = min(len(data), self.capacity - pos)
        self._buf[pos : pos + first] = data[:first]  # extends the buffer until it is full
        self._buf[: len(data) - first] = data[first:]
        self.end += len(data)

    def read(self, offset: int, max_bytes: int) -> tuple[int, bytes]:
        """Up to `max_bytes` from `offset`, or from the oldest byte kept if `offset` is older.
        Returns where the bytes start, and the bytes."""
        offset = max(offset, self.start)
        size = max(0, min(max_bytes, self.end - offset))
        pos = offset % self.capacity
        first = min(size, self.capacity - pos)
        with memoryview(self._buf) as view:
            return offset, bytes(view[pos : pos + first]) + bytes(view[: size - first])
