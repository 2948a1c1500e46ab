"""The simulator's event clock: the small part of SimPy the engine uses, with SimPy's exact event order.

``sim.engine`` needs a clock, timeouts, one-shot wake-up events, generator processes and one shared
link (a resource of capacity 1). SimPy provides them, but importing it costs about 0.07 CPU-seconds here
(it reads its own version from the installed package metadata at import), a seventh of the CPU yardstick
a whole ``sim run`` is measured against, and its general event machinery costs more per pass than this
subset. The order of events is SimPy's: a heap of (time, priority, insertion number); a process starts
with an urgent initialisation event; an event's callbacks run when it is popped; a process resumed with an
already processed event goes on at once; a finished process is itself an event scheduled when it ends; the
resource grants requests first come, first served when one is released. So every run gives the same
numbers as with SimPy (``scripts/snapshot.py --check`` and ``tests/test_clock.py`` compare them).

Differences, on purpose: an exception raised inside a process propagates from ``run`` at once (SimPy
delivers it when the failed process's event is popped, and re-raises a copy); nothing here interrupts
or fails events.
"""

from __future__ import annotations

from heapq import heappop, heappush
from itertools import count

URGENT, NORMAL = 0, 1
_PENDING = object()


class Event:
    """Something that happens at a point of simulated time; processes wait for it by yielding it."""

    __slots__ = ("env", "callbacks", "_value")

    def __init__(self, env: Environment):
        self.env = env
        self.callbacks: list | None = []
        self._value = _PENDING

    @property
    def triggered(self) -> bool:
        return self._value is not _PENDING

    def succeed(self, value=None) -> Event:
        if self._value is not _PENDING:
            raise RuntimeError(f"{self!r} has already been triggered")
        self._value = value
        self.env.schedule(self)
        return self


class Timeout(Event):
    __slots__ = ()

    def __init__(self, env: Environment, delay: float, value=None):
        if delay < 0:
            raise ValueError(f"negative delay {delay}")
        self.env = env
        self.callbacks = []
        self._value = value
        env.schedule(self, NORMAL, delay)


class Process(Event):
    """Runs a generator: each event it yields suspends it until that event is processed."""

    __slots__ = ("_generator",)

    def __init__(self, env: Environment, generator):
        super().__init__(env)
        self._generator = generator
        init = Event(env)  # SimPy's Initialize: urgent, so the process starts before anything else due now
        init.callbacks.append(self._resume)
        init._value = None
        env.schedule(init, URGENT)

    def _resume(self, event: Event) -> None:
        send = self._generator.send
        while True:
            try:
                event = send(event._value)
            except StopIteration as stop:
                self._value = stop.args[0] if stop.args else None
                self.env.schedule(self)
                return
            if event.callbacks is not None:  # not processed yet: wait for it
                event.callbacks.append(self._resume)
                return


class Environment:
    """The clock and the queue of scheduled events."""

    def __init__(self, initial_time: float = 0):  # an int, as SimPy's: admitted_s=0 shows in traces
        self.now = initial_time
        self._queue: list = []
        self._eid = count()

    def schedule(self, event: Event, priority: int = NORMAL, delay: float = 0) -> None:
        heappush(self._queue, (self.now + delay, priority, next(self._eid), event))

    def peek(self) -> float:
        """Time of the next scheduled event (infinity if none)."""
        return self._queue[0][0] if self._queue else float("inf")

    def event(self) -> Event:
        return Event(self)

    def timeout(self, delay: float, value=None) -> Timeout:
        return Timeout(self, delay, value)

    def process(self, generator) -> Process:
        return Process(self, generator)

    def run(self) -> None:
        """Process events until none is left."""
        queue = self._queue
        while queue:
            self.now, _, _, event = heappop(queue)
            callbacks, event.callbacks = event.callbacks, None
            for callback in callbacks:
                callback(event)


class _Request(Event):
    """A request for the resource; ``with`` releases it on leaving the block."""

    __slots__ = ("resource",)

    def __init__(self, resource: Resource):
        super().__init__(resource.env)
        self.resource = resource
        resource.put_queue.append(self)
        self.callbacks.append(resource._trigger_get)
        resource._trigger_put()

    def __enter__(self) -> _Request:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.triggered:
            self.resource.put_queue.remove(self)
        if exc_type is not GeneratorExit:
            self.resource.release(self)


class _Release(Event):
    __slots__ = ("request",)

    def __init__(self, resource: Resource, request: _Request):
        super().__init__(resource.env)
        self.request = request
        resource.get_queue.append(self)
        self.callbacks.append(resource._trigger_put)
        resource._trigger_get()


class Resource:
    """``capacity`` slots granted first come, first served (SimPy's Resource, without priorities)."""

    def __init__(self, env: Environment, capacity: int = 1):
        self.env = env
        self.capacity = capacity
        self.users: list = []
        self.put_queue: list = []
        self.get_queue: list = []

    def request(self) -> _Request:
        return _Request(self)

    def release(self, request: _Request) -> _Release:
        return _Release(self, request)

    def _trigger_put(self, _event=None) -> None:
        # SimPy's BaseResource._trigger_put with Resource._do_put: grant the first waiting request if a
        # slot is free, then stop (the next is tried when this grant or a release is processed).
        queue = self.put_queue
        if queue:
            req = queue[0]
            if len(self.users) < self.capacity:
                self.users.append(req)
                req.succeed()
            if req.triggered:
                queue.pop(0)

    def _trigger_get(self, _event=None) -> None:
        queue = self.get_queue
        if queue:
            rel = queue[0]
            try:
                self.users.remove(rel.request)
            except ValueError:
                pass
            rel.succeed()
            queue.pop(0)
