"""A pretend chat service, served once on asyncio and once on trio.

Run it with ``python docs/examples/app.py``. Five simulated requests arrive at
the same moment and are handled concurrently in one task group, each in its
own request scope. The program prints what every request did and what was
torn down, then runs the very same app on trio and checks that it printed the
same trace. It shows:

* singletons shared by every request (the message store), built once although
  all the requests race for it, and closed with the container;
* request-scoped services (the request context, a transaction, an outbox):
  one per request, never shared between requests;
* async generator factories: the code after ``yield`` is the teardown;
* tasks started inside a scope (message deliveries, a typing indicator): the
  scope waits for them, or cancels them, before it tears anything down;
* ``@inject`` functions, tasks and a worker thread that all find the current
  request's services through the context;
* a request cancelled half-way: its task is cancelled and its teardown still
  runs, awaiting what it needs to.

The output is the same on every run: the requests run concurrently, but each
one writes its lines into its own context and the trace is printed in request
order at the end.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
from anyio.abc import TaskStatus

from injectq import InjectQ, ScopeHandle, inject, scoped

# -- the app's data ---------------------------------------------------------------


@dataclass
class Request:
    id: str
    user: str
    action: str  # "post", "history" or "upload"
    room: str
    text: str = ""


REQUESTS = [
    Request("r1", "ana", "post", "general", "hi all"),
    Request("r2", "ben", "post", "general", "coffee, anyone?"),
    Request("r3", "cleo", "history", "news"),
    Request("r4", "ben", "upload", "random", "cat.gif"),
    Request("r5", "dev", "post", "random", "is the build green?"),
]

MEMBERS = {
    "general": ["ana", "ben", "cleo", "dev"],
    "news": ["cleo", "dev"],
    "random": ["ben", "dev"],
}


@dataclass
class Trace:
    """Where every line of output goes: app lines, and one list per request."""

    app: list[str] = field(default_factory=list)
    requests: dict[str, list[str]] = field(default_factory=dict)


# -- singletons --------------------------------------------------------------------


class MessageStore:
    """The chat history of every room; one for the whole app."""

    def __init__(self) -> None:
        self.rooms: dict[str, list[str]] = {
            "news": ["admin: release 2.0 is out", "admin: office closed on friday"],
        }

    def count(self) -> int:
        return sum(len(messages) for messages in self.rooms.values())


async def open_store(trace: Trace) -> AsyncIterator[MessageStore]:
    """Singleton factory: opened at first use, closed with the container."""
    await anyio.sleep(0.001)  # pretend to connect; every request is waiting for it now
    store = MessageStore()
    trace.app.append(f"store opened ({store.count()} messages)")
    yield store
    await anyio.sleep(0.001)  # pretend to flush
    trace.app.append(f"store closed ({store.count()} messages)")


# -- request-scoped services -----------------------------------------------------------


@scoped
class RequestContext:
    """Who is asking for what; collects this request's lines of the trace."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.request: Request | None = None
        self.lines: list[str] = []

    def say(self, line: str) -> None:
        self.lines.append(line)

    def close(self) -> None:
        # Built first in the scope, so finalized last: the request's last line.
        assert self.request is not None
        self.say("context closed")
        self.trace.requests[self.request.id] = self.lines


class Transaction:
    """Writes of one request: kept pending until ``commit()``."""

    def __init__(self, store: MessageStore) -> None:
        self.store = store
        self.pending: list[tuple[str, str]] = []
        self.committed = False

    def add(self, room: str, message: str) -> None:
        self.pending.append((room, message))

    async def commit(self) -> int:
        await anyio.sleep(0.001)  # pretend to write
        for room, message in self.pending:
            self.store.rooms.setdefault(room, []).append(message)
        self.committed = True
        return len(self.pending)


async def begin_transaction(ctx: RequestContext, store: MessageStore) -> AsyncIterator[Transaction]:
    """Request-scoped factory: what follows ``yield`` runs when the request's scope ends."""
    ctx.say("tx: begin")
    tx = Transaction(store)
    yield tx
    if tx.committed:
        ctx.say("tx: closed")
    else:
        # The scope may have been left by cancellation: teardown is shielded,
        # so this await still runs.
        await anyio.sleep(0.001)
        ctx.say(f"tx: rolled back {len(tx.pending)} pending message(s)")


class Outbox:
    """Notifications sent by one request; tasks of the scope fill it."""

    def __init__(self, ctx: RequestContext) -> None:
        self.ctx = ctx
        self.delivered: list[str] = []

    def close(self) -> None:
        # The scope's tasks are finished before anything is finalized.
        self.ctx.say(f"outbox: delivered to {', '.join(sorted(self.delivered))}")


def build_container(trace: Trace) -> InjectQ:
    container = InjectQ()
    container.bind_instance(Trace, trace)  # a value we own: never finalized
    container.bind_factory(MessageStore, open_store, scope="singleton")
    container.bind_factory(Transaction, begin_transaction, scope="scoped")
    container.bind(Outbox, scope="scoped")
    # RequestContext is not bound: its @scoped declaration is enough.
    return container


# -- handlers ------------------------------------------------------------------------


@inject
async def deliver(member: str, text: str, outbox: Outbox) -> None:
    """A task of the request's scope: the context gives it the request's outbox."""
    await anyio.sleep(0.001)  # pretend to push a notification
    outbox.delivered.append(member)


async def post_message(scope: ScopeHandle, ctx: RequestContext, request: Request) -> None:
    tx = await scope.aget(Transaction)
    tx.add(request.room, f"{request.user}: {request.text}")
    ctx.say(f"tx: committed {await tx.commit()} message(s)")
    for member in MEMBERS[request.room]:
        if member != request.user:
            scope.start_soon(deliver, member, request.text)


@inject
def render(messages: list[str], ctx: RequestContext) -> str:
    """Runs in a worker thread, and still sees the request's context."""
    assert ctx.request is not None
    return f"{len(messages)} messages rendered for {ctx.request.user} in a worker thread"


async def show_history(scope: ScopeHandle, ctx: RequestContext, request: Request) -> None:
    store = await scope.aget(MessageStore)
    ctx.say(await anyio.to_thread.run_sync(render, list(store.rooms[request.room])))


async def typing_indicator(
    ctx: RequestContext, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    ctx.say("typing indicator on")
    task_status.started()
    try:
        await anyio.sleep_forever()
    finally:
        ctx.say("typing indicator off")


async def upload(
    scope: ScopeHandle, ctx: RequestContext, request: Request, stalled: anyio.Event
) -> None:
    tx = await scope.aget(Transaction)
    tx.add(request.room, f"{request.user} shared {request.text}")
    await scope.start(typing_indicator, ctx)
    ctx.say("upload: waiting for the file")
    stalled.set()
    await anyio.sleep_forever()  # the file never arrives


async def serve(
    container: InjectQ,
    request: Request,
    cancel_scopes: dict[str, anyio.CancelScope],
    stalled: anyio.Event,
) -> None:
    """One request: one scope, entered and left here."""
    with anyio.CancelScope() as cancel_scope:
        cancel_scopes[request.id] = cancel_scope
        async with container.scope() as scope:
            ctx = await scope.aget(RequestContext)
            ctx.request = request
            if request.action == "post":
                await post_message(scope, ctx, request)
            elif request.action == "history":
                await show_history(scope, ctx, request)
            else:
                await upload(scope, ctx, request, stalled)
    if cancel_scope.cancelled_caught:
        container.get(Trace).requests[request.id].append(
            "=> cancelled; its scope was torn down all the same"
        )


async def run_app() -> Trace:
    trace = Trace()
    container = build_container(trace)
    stalled = anyio.Event()
    cancel_scopes: dict[str, anyio.CancelScope] = {}
    async with container:  # closes the singletons at the end
        with container.context():  # the container @inject uses
            trace.app.append(f"serving {len(REQUESTS)} requests at once")
            async with anyio.create_task_group() as tg:
                for request in REQUESTS:
                    tg.start_soon(serve, container, request, cancel_scopes, stalled)
                await stalled.wait()
                trace.app.append("r4 has stalled: the server cancels it")
                cancel_scopes["r4"].cancel()
            trace.app.append("all requests done; closing the container")
    return trace


def render_trace(trace: Trace) -> list[str]:
    titles = {
        "post": "{user} posts {text!r} to #{room}",
        "history": "{user} reads #{room}",
        "upload": "{user} uploads {text} to #{room}",
    }
    # App lines happen concurrently with the requests: print them grouped,
    # in an order that does not depend on scheduling.
    opening = [line for line in trace.app if not line.startswith(("store closed", "all requests"))]
    closing = [line for line in trace.app if line not in opening]
    lines = [f"app: {line}" for line in opening]
    for request in REQUESTS:
        lines.append(f"{request.id} {titles[request.action].format(**vars(request))}")
        lines.extend(f"    {line}" for line in trace.requests[request.id])
    lines.extend(f"app: {line}" for line in closing)
    return lines


def check(trace: Trace) -> None:
    """What the run must show, whatever the backend."""
    assert sum(line.startswith("store opened") for line in trace.app) == 1, "one store for all"
    assert trace.app[-1] == "store closed (5 messages)", trace.app  # r4's message rolled back
    for request in REQUESTS:
        lines = trace.requests[request.id]
        assert lines.count("context closed") == 1, lines
    assert trace.requests["r4"][-3:] == [
        "tx: rolled back 1 pending message(s)",
        "context closed",
        "=> cancelled; its scope was torn down all the same",
    ]


def main() -> int:
    traces = {}
    for backend in ("asyncio", "trio"):
        trace = anyio.run(run_app, backend=backend)
        check(trace)
        traces[backend] = render_trace(trace)
    print("\n".join(traces["asyncio"]))
    print("asyncio: ok")
    if traces["trio"] != traces["asyncio"]:
        print("\n".join(traces["trio"]))
        print("trio: the trace differs from asyncio's")
        return 1
    print("trio: ok, same trace as asyncio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
