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

After the requests, three custom scopes (see docs/custom-scopes.md and
docs/ready-managers.md):

* a session scope: a user's preferences are kept from one request to the
  next, and finalized when the session expires after 30 idle minutes or when
  the container closes; each request scope nests inside the session;
* a tenant scope: every workspace (tenant) gets its own config, built with the
  ``tenant_id`` the scope was opened with; concurrent requests of two tenants
  never see each other's config, and with room for two tenants the least
  recently used one is evicted and finalized;
* a workflow scope: an export job made of three steps (entries), one of them
  in a worker thread, sharing the job's context and an export file; the job
  is completed in its last step and the file is removed right after it.

The output is the same on every run: the requests run concurrently, but each
one writes its lines into its own context and the trace is printed in request
order at the end. The custom scopes' clock is moved by the program itself,
never by waiting, so expiry and eviction happen at the same point every time.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
from anyio.abc import TaskStatus

from injectq import (
    InjectQ,
    ScopeHandle,
    SessionScopeManager,
    TenantScopeManager,
    WorkflowScopeManager,
    inject,
    scoped,
)

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
    """Where every line of output goes: app lines, one list per request, one per custom scope."""

    app: list[str] = field(default_factory=list)
    requests: dict[str, list[str]] = field(default_factory=dict)
    scopes: dict[str, list[str]] = field(default_factory=dict)
    closing: bool = False  # set when the container starts closing

    def note(self, owner: str, line: str) -> None:
        self.scopes.setdefault(owner, []).append(line)


class Clock:
    """The clock of the custom scopes: it only moves when the program says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += minutes * 60


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


# -- session-scoped services -----------------------------------------------------------


class Preferences:
    """One user's settings, kept across that user's requests for the session's life."""

    def __init__(self, session_id: str, trace: Trace) -> None:
        self.user = session_id  # the id the session scope was opened with
        self.trace = trace
        self.theme = "light"
        self.requests = 0

    def close(self) -> None:
        why = "the container closed" if self.trace.closing else "the session expired"
        self.trace.note(
            f"session {self.user}",
            f"preferences finalized: {why} (theme {self.theme}, {self.requests} request(s))",
        )


class Page:
    """Request-scoped, inside a session: renders with the session's preferences."""

    def __init__(self, preferences: Preferences) -> None:
        self.preferences = preferences

    def render(self, what: str) -> str:
        return f"{what} in the {self.preferences.theme} theme"


# -- tenant-scoped services --------------------------------------------------------------

PLANS = {"acme": "business", "globex": "free", "initech": "free"}


class TenantConfig:
    """One workspace's settings; built once per tenant, from the tenant's id."""

    def __init__(self, tenant_id: str, trace: Trace) -> None:
        self.tenant_id = tenant_id
        self.trace = trace
        self.plan = PLANS[tenant_id]
        self.history_days = 365 if self.plan == "business" else 30
        self.messages = 0  # counted by the tenant's requests

    def close(self) -> None:
        why = "the container closed" if self.trace.closing else "evicted, least recently used"
        self.trace.note(
            f"tenant {self.tenant_id}",
            f"config finalized: {why} ({self.messages} message(s) counted)",
        )


class Inbox:
    """Request-scoped, inside a tenant: sees that tenant's config and id."""

    def __init__(self, config: TenantConfig, tenant_id: str) -> None:
        self.config = config
        self.tenant_id = tenant_id


# -- workflow-scoped services ------------------------------------------------------------


class ExportJob:
    """What the steps of one export pass to each other."""

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        self.messages: list[str] = []
        self.archive = ""


class ExportFile:
    def __init__(self, name: str) -> None:
        self.name = name
        self.size = 0


async def open_export_file(job: ExportJob, trace: Trace) -> AsyncIterator[ExportFile]:
    """Workflow-scoped: opened by the first step that needs it, removed when the job ends."""
    export = ExportFile(f"{job.workflow_id}.zip")
    trace.note(f"workflow {job.workflow_id}", f"{export.name} opened")
    yield export
    await anyio.sleep(0.001)  # pretend to delete it
    trace.note(f"workflow {job.workflow_id}", f"{export.name} removed ({export.size} bytes)")


def build_container(trace: Trace, clock: Clock | None = None) -> InjectQ:
    clock = clock or Clock()
    container = InjectQ()
    container.bind_instance(Trace, trace)  # a value we own: never finalized
    container.bind_factory(MessageStore, open_store, scope="singleton")
    container.bind_factory(Transaction, begin_transaction, scope="scoped")
    container.bind(Outbox, scope="scoped")
    # RequestContext is not bound: its @scoped declaration is enough.

    container.register_scope_manager("session", SessionScopeManager(timeout=30 * 60, clock=clock))
    container.register_scope_manager("tenant", TenantScopeManager(max_tenants=2, clock=clock))
    workflows = WorkflowScopeManager(clock=clock)
    container.register_scope_manager("workflow", workflows)
    container.bind_instance(WorkflowScopeManager, workflows)  # for the steps that record results
    container.bind(Preferences, scope="session")
    container.bind(Page, scope="scoped")
    container.bind(TenantConfig, scope="tenant")
    container.bind(Inbox, scope="scoped")
    container.bind(ExportJob, scope="workflow")
    container.bind_factory(ExportFile, open_export_file, scope="workflow")
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


# -- custom scopes: sessions, tenants, a workflow -----------------------------------------


async def session_request(container: InjectQ, user: str, command: str) -> None:
    """One request of a user: a request scope nested in the user's session scope."""
    async with container.scope("session", user), container.scope() as request:
        page = await request.aget(Page)
        preferences = page.preferences
        preferences.requests += 1
        if command.startswith("/theme "):
            preferences.theme = command.removeprefix("/theme ")
            line = f"theme set to {preferences.theme}"
        else:
            line = f"{page.render('history')}, request {preferences.requests} of this session"
        container.get(Trace).note(f"session {user}", f"{command!r}: {line}")


async def show_sessions(container: InjectQ, clock: Clock) -> None:
    async def visit(user: str, commands: list[str]) -> None:
        for command in commands:
            await session_request(container, user, command)

    async with anyio.create_task_group() as tg:  # two users at the same time
        tg.start_soon(visit, "ana", ["/theme dark", "/history"])
        tg.start_soon(visit, "ben", ["/history"])
    trace = container.get(Trace)
    clock.advance(20)
    trace.note("session ben", "... 20 minutes later")
    await session_request(container, "ben", "/history")  # ben's session is still there
    clock.advance(15)  # ana has been idle for 35 minutes, ben for 15
    trace.note("session ana", "... 35 minutes later: her session has expired")
    await session_request(container, "ana", "/history")  # a new session; the old one is finalized


async def tenant_request(container: InjectQ, tenant_id: str) -> TenantConfig:
    """One request of a workspace: a request scope nested in the tenant scope."""
    async with container.scope("tenant", tenant_id), container.scope() as request:
        inbox = await request.aget(Inbox)
        await anyio.sleep(0.001)  # the other tenant's requests run meanwhile
        assert inbox.tenant_id == inbox.config.tenant_id == tenant_id, "a config leaked"
        inbox.config.messages += 1
        return inbox.config


async def show_tenants(container: InjectQ, clock: Clock) -> None:
    trace = container.get(Trace)
    seen: dict[str, set[int]] = {"acme": set(), "globex": set()}

    async def one(tenant_id: str) -> None:
        seen[tenant_id].add(id(await tenant_request(container, tenant_id)))

    async with anyio.create_task_group() as tg:  # six requests of two tenants at once
        for tenant_id in ["acme", "globex"] * 3:
            tg.start_soon(one, tenant_id)
    assert all(len(ids) == 1 for ids in seen.values()), "one config per tenant"
    assert seen["acme"].isdisjoint(seen["globex"]), "tenants never share a config"
    for tenant_id in seen:
        async with container.scope("tenant", tenant_id) as scope:
            config = await scope.aget(TenantConfig)
            trace.note(
                f"tenant {tenant_id}",
                f"3 concurrent requests, one config of its own: {config.plan} plan,"
                f" {config.history_days} days of history, {config.messages} message(s)",
            )
    clock.advance(1)
    await tenant_request(container, "acme")  # acme is now the most recently used
    clock.advance(1)
    config = await tenant_request(container, "initech")  # a third tenant: globex goes
    trace.note("tenant initech", f"joined: {config.plan} plan, {config.messages} message(s)")


async def show_workflow(container: InjectQ, clock: Clock) -> None:
    workflows = container.get(WorkflowScopeManager)
    trace = container.get(Trace)
    job_id = "export-general"
    owner = f"workflow {job_id}"

    # Step 1 (a task): collect the room's messages into the job.
    async with container.scope("workflow", job_id) as step:
        job = await step.aget(ExportJob)
        store = await step.aget(MessageStore)
        job.messages = list(store.rooms["general"])
        await step.aget(ExportFile)
        workflows.record_step("collect", len(job.messages))
    trace.note(owner, f"step 1 collected {len(job.messages)} message(s)")

    # Step 2 (a worker thread, plain `with`): the same job, the same file.
    def compress() -> None:
        with container.scope("workflow", job_id) as step:
            job = step.get(ExportJob)
            export = step.get(ExportFile)
            job.archive = "\n".join(sorted(job.messages))
            export.size = len(job.archive.encode())
            workflows.record_step("compress", export.size)

    await anyio.to_thread.run_sync(compress)
    trace.note(owner, f"step 2 compressed them in a worker thread ({len(job.archive)} chars)")

    # Step 3: upload, and complete the job; its file is removed as this step ends.
    clock.advance(2)
    async with container.scope("workflow", job_id) as step:
        export = await step.aget(ExportFile)
        workflows.record_step("upload", f"https://files.example.test/{export.name}")
        workflows.complete(job_id)
        trace.note(owner, f"step 3 uploaded {export.name} and completed the job")
    record = workflows.workflow(job_id)
    steps = sum("step" in entry for entry in record.steps)
    names = ", ".join(entry["name"] for entry in record.steps if "name" in entry)
    trace.note(owner, f"status {record.status} after {steps} steps ({names})")


async def show_custom_scopes(container: InjectQ, clock: Clock) -> None:
    await show_sessions(container, clock)
    await show_tenants(container, clock)
    await show_workflow(container, clock)


async def run_app() -> Trace:
    trace = Trace()
    clock = Clock()
    container = build_container(trace, clock)
    stalled = anyio.Event()
    cancel_scopes: dict[str, anyio.CancelScope] = {}
    async with container:  # closes the singletons (and live custom scopes) at the end
        with container.context():  # the container @inject uses
            trace.app.append(f"serving {len(REQUESTS)} requests at once")
            async with anyio.create_task_group() as tg:
                for request in REQUESTS:
                    tg.start_soon(serve, container, request, cancel_scopes, stalled)
                await stalled.wait()
                trace.app.append("r4 has stalled: the server cancels it")
                cancel_scopes["r4"].cancel()
            trace.app.append("all requests done; now sessions, tenants and a workflow")
            await show_custom_scopes(container, clock)
            trace.app.append("closing the container")
            trace.closing = True
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
    opening = opening[: opening.index("closing the container")]
    middle = [line for line in trace.app if line.startswith("all requests")]
    closing = [line for line in trace.app if line not in opening and line not in middle]
    lines = [f"app: {line}" for line in opening]
    for request in REQUESTS:
        lines.append(f"{request.id} {titles[request.action].format(**vars(request))}")
        lines.extend(f"    {line}" for line in trace.requests[request.id])
    lines.extend(f"app: {line}" for line in middle)
    for owner in SCOPE_OWNERS:  # a fixed order: scopes of different owners run concurrently
        lines.append(owner)
        lines.extend(f"    {line}" for line in trace.scopes[owner])
    lines.extend(f"app: {line}" for line in closing)
    return lines


SCOPE_OWNERS = [
    "session ana",
    "session ben",
    "tenant acme",
    "tenant globex",
    "tenant initech",
    "workflow export-general",
]


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
    ana, ben = trace.scopes["session ana"], trace.scopes["session ben"]
    assert "'/history': history in the dark theme, request 2 of this session" in ana, ana
    assert [line.split(":")[1] for line in ana if line.startswith("preferences finalized")] == [
        " the session expired (theme dark, 2 request(s))",  # by the end of the entry that noticed
        " the container closed (theme light, 1 request(s))",  # her new session
    ], ana
    assert [line for line in ben if line.startswith("preferences finalized")] == [
        "preferences finalized: the container closed (theme light, 2 request(s))"
    ], ben  # ben's session lived on across both requests
    evicted = [line for line in trace.scopes["tenant globex"] if "evicted" in line]
    assert evicted == ["config finalized: evicted, least recently used (3 message(s) counted)"]
    for tenant_id in ("acme", "initech"):
        assert sum("finalized" in line for line in trace.scopes[f"tenant {tenant_id}"]) == 1
    job = trace.scopes["workflow export-general"]
    assert job[-2].endswith("removed (32 bytes)"), job  # removed as the last step ended
    assert job[-1] == "status completed after 3 steps (collect, compress, upload)", job


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
