"""TCP relays for end-to-end tests, on an event loop of their own: a load balancer in front
of several ports, and a delay line that holds one connection's bytes back."""

from __future__ import annotations

import asyncio
import threading
import time

from tests.harness import free_port


class LoopThread:
    """An event loop on a thread of its own, for a server the test plays; ``start`` is run
    on it first, and every task it left is cancelled and awaited before the loop closes."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def start(self) -> None:
        raise NotImplementedError

    async def cleanup(self) -> None:
        pass

    async def _shutdown(self) -> None:
        await self.cleanup()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self):
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Relay(LoopThread):
    """Connection k goes to ``targets[k % len(targets)]`` (round robin, as a TCP load
    balancer). The client's bytes on the first connection leave ``first_delay`` seconds after
    they arrived (order and rate kept): what it carries arrives after what later connections
    carry. Everything else passes at once."""

    def __init__(self, targets: list[int], first_delay: float = 0.0):
        self.targets, self.first_delay = targets, first_delay
        self.port = free_port()
        self.connections = 0
        super().__init__()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def cleanup(self) -> None:
        self.server.close()

    async def _pump(self, reader, writer, delay: float) -> None:
        queue: asyncio.Queue = asyncio.Queue()

        async def release():
            while (item := await queue.get()) is not None:
                due, data = item
                await asyncio.sleep(max(due - time.monotonic(), 0))
                writer.write(data)
                await writer.drain()
            writer.close()

        releaser = asyncio.create_task(release())
        try:
            while data := await reader.read(65536):
                queue.put_nowait((time.monotonic() + delay, data))
        except ConnectionError:
            pass
        queue.put_nowait(None)
        await releaser

    async def _relay(self, reader, writer) -> None:
        target = self.targets[self.connections % len(self.targets)]
        delay = self.first_delay if self.connections == 0 else 0.0
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
            await asyncio.gather(
                self._pump(reader, up_writer, delay), self._pump(up_reader, writer, 0.0), return_exceptions=True
            )
        except asyncio.CancelledError:  # the test is over
            writer.close()
