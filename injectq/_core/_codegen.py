"""Compile, part two: generate a key's builders as straight-line code.

One template writes both variants.  A sync builder resolves a key's whole
subgraph in one Python function: every dependency that lives in the same frame
(or is transient) is inlined, with its cache check written out; dependencies
living elsewhere (singletons seen from a scope, outer custom scopes, async
factories) are called through their own builders.  One lock is taken per
top-level build, not one per node.  An async builder writes out, in place,
the build of each async factory its graph needs (marking the key pending in
its frame so concurrent asks wait for one build), then the same sync body.

The generated source for ``Handler(Service(Repo(Session)))`` in the request
scope looks like this (simplified)::

    def build_Handler(start, created=None):
        frame = start if start.name == "scoped" else find(start)
        inst = frame.instances
        v0 = inst.get(k0, MISSING)
        if v0 is not MISSING:
            return v0
        with frame.lock:
            ...
            session_3 = inst.get(k3, MISSING)
            if session_3 is MISSING:
                g4 = f5(b6(start))  # [2] Session  (a generator factory; Engine from its builder)
                session_3 = next(g4)  # [2] Session  (StopIteration here is an InjectionError)
                adopt(frame, local, (GEN, g4, k3))
                inst[k3] = session_3
            repo_7 = f8(session_3)  # [3] Repo  (transient, inlined)
            ...

Under the lock the body is written twice: when the frame holds none of the
keys it caches (a fresh scope, most often) a variant builds each of them
without looking it up; otherwise the general one above runs.

``_trace.compile_builder`` names the function after its key, wraps its body in
``try`` / ``except Exception`` (so a user's exception gets the note ``while
building Handler -> Service -> Repo``, from the ``# [n]`` marks of the lines
it passed), and registers the source with ``linecache``.
"""

from __future__ import annotations

from types import CoroutineType
from typing import TYPE_CHECKING, Any

from ._errors import InjectQError
from ._finalize import AGEN, GEN, OBJ, has_teardown, only_async_teardown
from ._keys import SCOPED, SINGLETON, TRANSIENT
from ._spec import returned_coroutine
from ._trace import compile_builder, marker, variable_name

if TYPE_CHECKING:
    from collections.abc import Hashable

    from ._plan import Build, Node
    from ._scope import Frame

__all__ = ["generate", "generate_async"]

# teardown modes of a provider node
NONE, CLASS, CHECK, GENERATOR = "none", "class", "check", "generator"


def _add_frames(exc: InjectQError, path: tuple[Hashable, ...]) -> None:
    for key in reversed(path):
        exc.add_frame(key)


class _Emitter:
    """Writes the body of one builder."""

    def __init__(self, top: Node, helpers: dict[str, Any]) -> None:
        self.top = top
        self.ns: dict[str, Any] = dict(helpers)
        self.lines: list[str] = []
        self.count = 0
        # id(node) -> variable of a same-frame cached node; every one is computed up
        # front, dependencies first, so each is checked once and known everywhere after
        self.known: dict[int, str] = {}
        self.frame_name = top.scope  # TRANSIENT for a transient top: nothing is same-frame
        # where teardown records of what is being built go, and that frame
        self.local = "local"
        self.frame = "frame"
        self.is_async = False
        # async mode: id(node) -> variable of an async factory already awaited, per block
        self.awaited: list[dict[int, str]] = [{}]
        # while writing the fresh-frame variant: the keys it builds without looking
        self.fresh: set[Hashable] | None = None
        # the top's frame is shared by many scopes' worth of callers (the singletons'
        # frame, a custom scope's): builds claim their keys there (see ``_flight``)
        self.flights = top.scope != SCOPED
        # the chains of keys that marked lines build (see ``_trace``)
        self.chains: list[tuple[Hashable, ...]] = []

    def name(self, prefix: str, value: Any) -> str:
        self.count += 1
        name = f"{prefix}{self.count}"
        self.ns[name] = value
        return name

    def var(self, prefix: str = "v", node: Node | None = None) -> str:
        self.count += 1
        if node is not None:
            return variable_name(node.key, self.count)
        return f"{prefix}{self.count}"

    def mark(self, chain: tuple[Hashable, ...], key: Hashable) -> str:
        """The comment ending a line that builds ``key`` (for a user exception's note)."""
        return marker(self.chains, chain, key)

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def same_frame(self, node: Node) -> bool:
        return (
            node.scope == self.frame_name
            and node.scope != TRANSIENT
            and node.provider is not None
            and not node.own_async
        )

    def inlined(self, node: Node) -> bool:
        return node.scope == TRANSIENT and node.provider is not None and not node.own_async

    # -- same-frame cached nodes, dependencies first --------------------------------------

    def hoist(self, node: Node, indent: int, path: tuple[Hashable, ...]) -> None:
        """Emit every same-frame cached node ``node`` needs, before ``node`` itself.

        Checking them all up front is right because a frame only ever holds a cached
        instance whose own same-frame dependencies are cached too.
        """
        inner = (*path, node.key)
        for _, dep in node.args:
            if id(dep) in self.known:
                continue
            if self.same_frame(dep):
                self.hoist(dep, indent, inner)
                self.cached(dep, indent, inner)
            elif self.inlined(dep):
                self.hoist(dep, indent, inner)
            elif dep.own_async and dep.scope == self.frame_name != TRANSIENT:
                # an async factory of this frame: built already (by aget), or a clear error
                v = self.var(node=dep)
                self.emit(indent, f"{v} = inst.get({self.name('k', dep.key)}, MISSING)")
                self.emit(indent, f"if {v} is MISSING:")
                self.call_other(dep, v, indent + 1, inner)
                self.known[id(dep)] = v

    def cached(self, node: Node, indent: int, path: tuple[Hashable, ...]) -> None:
        v = self.var(node=node)
        key = self.name("k", node.key)
        if self.fresh is not None:  # known absent: build it, no look-up
            self.fresh.add(node.key)
            self.construct(node, v, key, indent, path, cached=True)
        else:
            self.emit(indent, f"{v} = inst.get({key}, MISSING)")
            self.emit(indent, f"if {v} is MISSING:")
            if not self.flights:  # a request scope: a build in flight here is a cycle, or busy
                chain = self.name("p", (*path, node.key))
                for where, error in (("building", "cycle"), ("pending", "busy")):
                    self.emit(indent + 1, f"if {where} and {key} in {where}:")
                    self.emit(indent + 2, f"exc = {error}({where}, {key})")
                    self.emit(indent + 2, f"add_frames(exc, {chain})")
                    self.emit(indent + 2, "raise exc")
            self.construct(node, v, key, indent + 1, path, cached=True)
        self.known[id(node)] = v

    # -- one value ------------------------------------------------------------------------

    def value_of(self, node: Node, indent: int, path: tuple[Hashable, ...]) -> str:
        """Emit what computes ``node``'s value; return the expression that holds it."""
        if node.const is not MISSING_CONST:
            return self.name("c", node.const)
        if self.is_async and node.is_async:
            return self.async_value(node, indent, path)
        known = self.known.get(id(node))
        if known is not None:
            return known
        if self.inlined(node):
            v = self.var(node=node)
            self.construct(node, v, self.name("k", node.key), indent, path, cached=False)
            return v
        v = self.var(node=node)
        if node.scope == SINGLETON and self.frame_name != SINGLETON:
            # a singleton seen from a scope: usually built already
            self.emit(indent, f"{v} = ready_get({self.name('k', node.key)}, MISSING)")
            self.emit(indent, f"if {v} is MISSING:")
            self.call_other(node, v, indent + 1, path)
        else:
            self.call_other(node, v, indent, path)
        return v

    def call_other(
        self, node: Node, v: str, indent: int, path: tuple[Hashable, ...], awaited: bool = False
    ) -> None:
        if awaited:
            call = f"await {self.name('ab', node.abuild)}(start, {self.local})"
        else:
            call = f"{self.name('b', node.build)}(start)"
        self.emit(indent, "try:")
        self.emit(indent + 1, f"{v} = {call}{self.mark(path, node.key)}")
        self.emit(indent, "except InjectQError as exc:")
        self.emit(indent + 1, f"add_frames(exc, {self.name('p', path)})")
        self.emit(indent + 1, "raise")

    # -- async mode ---------------------------------------------------------------------

    def async_value(self, node: Node, indent: int, path: tuple[Hashable, ...]) -> str:
        """A value whose graph must be awaited, written into an async builder."""
        for block in reversed(self.awaited):
            known = block.get(id(node))
            if known is not None:
                return known
        v = self.var(node=node)
        if node.own_async:
            self.async_build(node, v, indent, path)
        elif node.prereqs is not None:  # await its async factories, then build it as usual
            for prereq in node.prereqs:
                self.async_value(prereq, indent, (*path, *_route(node, prereq)))
            self.call_other(node, v, indent, path)
        else:  # a transient async factory somewhere below: its own async builder
            self.call_other(node, v, indent, path, awaited=True)
        if node.scope != TRANSIENT:
            self.awaited[-1][id(node)] = v
        return v

    def async_build(self, node: Node, v: str, indent: int, path: tuple[Hashable, ...]) -> None:
        """Build ``node`` in an async builder: cached ones once per frame, however many ask.

        The first task to ask claims the key in its frame (see ``_flight``); others
        wait for that flight and look again (building it themselves if it failed).
        """
        key = self.name("k", node.key)
        if node.scope == TRANSIENT:
            self.construct(node, v, key, indent, path, cached=False)
            return
        frame, inst, pend, local, event = (self.var(p) for p in ("f", "i", "q", "l", "e"))
        if node.scope == SINGLETON:
            self.emit(indent, f"{frame} = ROOT")
        else:
            find = self.name("find", self.ns["finder"](node.scope, node.key))
            self.emit(indent, f"{frame} = start")
            self.emit(indent, f"if {frame}.name != {node.scope!r}:")
            self.emit(indent + 1, f"{frame} = {find}(start)")
        self.emit(indent, f"{inst} = {frame}.instances")
        self.emit(indent, f"{v} = {inst}.get({key}, MISSING)")
        self.emit(indent, f"if {v} is MISSING:")
        i = indent + 1
        if node.scope == SCOPED:
            # Every build of a request scope runs on the one event loop of the task
            # that owns the scope: a key is claimed with a plain mark, no lock.
            marks = self.var("d")
            self.emit(i, f"{marks} = {frame}.pending")
            self.emit(i, f"if {marks} is None:")
            self.emit(i + 1, f"{marks} = {frame}.pending = {{}}")
            self.emit(i, f"if {key} in {marks}:")
            self.guarded(i + 1, f"{v} = await await_mark({frame}, {key})", path)
            self.emit(i, f"if {v} is MISSING:")
            i += 1
            self.emit(i, f"{pend} = {marks}[{key}] = [None]")
            done = [
                f"{marks}.pop({key}, None)",
                f"if {pend}[0] is not None:",
                f"    {pend}[0].set()",
            ]
        else:
            self.guarded(i, f"{v}, {pend} = await aclaim({frame}, {key})", path)
            self.emit(i, f"if {pend} is not None:")
            i += 1
            self.emit(i, f"{event} = start_flight({pend})")
            done = [f"stop_flight({event})", f"release({frame}, {pend})"]
        self.emit(i, f"{local} = []")
        self.emit(i, "try:")
        self.emit(i + 1, "try:")
        saved = self.local, self.frame
        self.local, self.frame = local, frame
        self.awaited.append({})
        self.construct(node, v, key, i + 2, path, cached=False)
        self.awaited.pop()
        self.local, self.frame = saved
        self.emit(i + 2, f"if {local}:")
        self.emit(i + 3, f"if {frame}.is_async:")
        self.emit(i + 4, f"{frame}.records += {local}")
        self.emit(i + 3, "else:")
        self.emit(i + 4, f"{frame}.adopt({local})")
        self.emit(i + 1, "except BaseException as exc:")
        self.emit(i + 2, f"await failed_async({local}, exc, {key})")
        self.emit(i + 2, "raise")
        self.emit(i + 1, f"{inst}[{key}] = {v}")
        if node.scope == SINGLETON:
            self.emit(i + 1, f"ready[{key}] = {v}")
        self.emit(i, "finally:")
        for line in done:
            self.emit(i + 1, line)

    def guarded(self, indent: int, line: str, path: tuple[Hashable, ...]) -> None:
        """``line``, with the chain ``path`` added to an injectq error it raises."""
        if not path:
            self.emit(indent, line)
            return
        self.emit(indent, "try:")
        self.emit(indent + 1, line)
        self.emit(indent, "except InjectQError as exc:")
        self.emit(indent + 1, f"add_frames(exc, {self.name('p', path)})")
        self.emit(indent + 1, "raise")

    def arguments(
        self, node: Node, indent: int, path: tuple[Hashable, ...]
    ) -> tuple[str, list[str]]:
        """Emit what computes ``node``'s arguments: the argument list, and its values."""
        inner = (*path, node.key)
        args: list[str] = []
        values: list[str] = []
        for name, dep in node.args:
            value = self.value_of(dep, indent, inner)
            values.append(value)
            args.append(value if name is None else f"{name}={value}")
        return ", ".join(args), values

    def construct(
        self, node: Node, v: str, key: str, indent: int, path: tuple[Hashable, ...], cached: bool
    ) -> None:
        """Call ``node``'s provider into ``v`` and keep its teardown record.

        An async factory (only ever written out by ``async_build``) is awaited,
        an async generator's first value taken with ``await __anext__()``.
        """
        args, values = self.arguments(node, indent, path)
        call = f"{self.name('f', node.provider)}({args})"
        awaited = node.own_async
        mark = self.mark((*path, node.key), node.key)
        if node.teardown == GENERATOR:
            gen = self.var("g")
            kind, first, stop, what = (
                ("AGEN", f"await {gen}.__anext__()", "StopAsyncIteration", "async generator")
                if awaited
                else ("GEN", f"next({gen})", "StopIteration", "generator")
            )
            self.emit(indent, f"{gen} = {call}{mark}")
            self.emit(indent, "try:")
            self.emit(indent + 1, f"{v} = {first}{mark}")
            self.emit(indent, f"except {stop}:")
            self.emit(indent + 1, f"raise no_yield({key}, {what!r}) from None")
            self.record(f"({kind}, {gen}, {key})", indent, cached, plain=not awaited)
        else:
            self.emit(indent, f"{v} = {'await ' if awaited else ''}{call}{mark}")
            if node.teardown == CLASS:
                plain = not only_async_teardown(node.provider)
                self.record(f"(OBJ, {v}, {key})", indent, cached, plain=plain)
            elif node.teardown == CHECK:
                # a sync function that hands back a coroutine: an async factory in disguise
                self.emit(indent, f"if type({v}) is {self.name('ct', CoroutineType)}:")
                self.emit(indent + 1, f"raise {self.name('rc', returned_coroutine)}({key}, {v})")
                aliases = "".join(f" or {v} is {value}" for value in values)
                self.emit(
                    indent,
                    f"if {v} is not None and not (False{aliases}) and has_teardown(type({v})):",
                )
                self.record(f"(OBJ, {v}, {key})", indent + 1, cached, plain=False)
        if cached:
            self.emit(indent, f"inst[{key}] = {v}")
            if node.scope == SINGLETON:
                self.emit(indent, f"ready[{key}] = {v}")

    def record(self, record: str, indent: int, cached: bool, plain: bool) -> None:
        """Keep a teardown record: a cached instance's goes to its frame, after what it used."""
        if not cached:
            self.emit(indent, f"{self.local}.append({record})")
        elif plain:  # never needs an await: no check against a frame left with ``with``
            self.emit(indent, "if local:")
            self.emit(indent + 1, "frame.adopt(local)")
            self.emit(indent + 1, "local.clear()")
            self.emit(indent, f"frame.records.append({record})")
        else:
            self.emit(indent, f"adopt(frame, local, {record})")


def _route(node: Node, target: Node) -> tuple[Hashable, ...]:
    """The keys from ``node`` down to ``target``'s dependant (for the chain in a note)."""
    seen: set[int] = set()

    def find(current: Node) -> tuple[Hashable, ...] | None:
        for dep in current.deps:
            if dep is target:
                return (current.key,)
            if id(dep) not in seen:
                seen.add(id(dep))
                below = find(dep)
                if below is not None:
                    return (current.key, *below)
        return None

    return find(node) or (node.key,)


class _MissingConst:
    __slots__ = ()


MISSING_CONST: Any = _MissingConst()


def generate_async(
    node: Node,
    root: Frame,
    ready: dict[Hashable, Any],
    helpers: dict[str, Any],
) -> Build:
    """The async builder of a node whose graph must be awaited.

    An async factory (or a node whose graph holds a transient one) is built by
    the code above, awaiting where needed.  Any other node awaits the async
    factories of its graph, each written out in place, then runs its sync builder.
    """
    emitter = _Emitter(node, helpers)
    _namespace(emitter, root, ready)
    emitter.is_async = True
    emitter.frame_name = TRANSIENT  # sync parts go through their own (locking) builders
    emitter.emit(1, "local = created")
    if node.own_async or node.prereqs is None:
        v = emitter.var(node=node)
        emitter.async_build(node, v, 1, ())
        emitter.emit(1, f"return {v}")
    else:
        for prereq in node.prereqs:
            emitter.async_value(prereq, 1, _route(node, prereq))
        _sync_body(emitter, node)  # then exactly what the sync builder does
    lines = ["async def build(start, created=None):", *emitter.lines]
    return compile_builder(lines, emitter.ns, node.key, emitter.chains, is_async=True)


def _namespace(emitter: _Emitter, root: Frame, ready: dict[Hashable, Any]) -> None:
    emitter.ns.update(
        ROOT=root,
        ready=ready,
        ready_get=ready.get,
        InjectQError=InjectQError,
        add_frames=_add_frames,
        has_teardown=has_teardown,
        GEN=GEN,
        AGEN=AGEN,
        OBJ=OBJ,
        BUSY="is being built by an async task right now",
    )


def generate(
    node: Node,
    root: Frame,
    ready: dict[Hashable, Any],
    helpers: dict[str, Any],
) -> Build:
    """The sync builder of a provider node whose own provider is sync."""
    emitter = _Emitter(node, helpers)
    _namespace(emitter, root, ready)
    _sync_body(emitter, node)
    lines = ["def build(start, created=None):", *emitter.lines]
    return compile_builder(lines, emitter.ns, node.key, emitter.chains, is_async=False)


def _sync_body(emitter: _Emitter, node: Node) -> None:
    """Build ``node`` and everything below it that needs no await; return it."""
    emitter.is_async = False
    emitter.frame_name = node.scope
    emitter.known.clear()
    key = emitter.name("k", node.key)
    scope = node.scope
    if scope == TRANSIENT:
        # a transient top: records go to the caller's list; nothing is cached here
        emitter.emit(1, "local = created")
        emitter.emit(1, "frame = pending = inst = None")
        v = emitter.var(node=node)
        emitter.hoist(node, 1, ())
        emitter.construct(node, v, key, 1, (), cached=False)
        emitter.emit(1, f"return {v}")
        return
    if scope == SINGLETON:
        emitter.emit(1, "frame = ROOT")
    else:
        find = emitter.name("find", emitter.ns["finder"](scope, node.key))
        emitter.emit(1, "frame = start")
        emitter.emit(1, f"if frame.name != {scope!r}:")
        emitter.emit(2, f"frame = {find}(start)")
    for line in (
        "inst = frame.instances",
        f"v0 = inst.get({key}, MISSING)",
        "if v0 is not MISSING:",
        "    return v0",
    ):
        emitter.emit(1, line)
    if emitter.flights:
        _claimed_body(emitter, node, key)
    else:
        _locked_body(emitter, node, key)


def _claimed_body(emitter: _Emitter, node: Node, key: str) -> None:
    """A frame shared beyond one request: claim the keys this build caches, build, release.

    Builds of other keys in the frame go on meanwhile; those of the same keys wait.
    """
    keys = emitter.name("keys", _frame_keys(emitter, node))
    emitter.emit(1, f"flight = claim(frame, {keys})")
    emitter.emit(1, "try:")
    for line in (
        f"v0 = inst.get({key}, MISSING)",  # built while this call waited
        "if v0 is not MISSING:",
        "    return v0",
        "local = []",
    ):
        emitter.emit(2, line)
    _cached_top(emitter, node, key)
    emitter.emit(2, "if local:")
    emitter.emit(3, "frame.adopt(local)")
    emitter.emit(2, "return v0")
    emitter.emit(1, "finally:")
    emitter.emit(2, "release(frame, flight)")


def _locked_body(emitter: _Emitter, node: Node, key: str) -> None:
    """A request scope's frame: one build at a time under the scope's lock.

    While it runs, ``frame.building`` holds the keys it caches, so a factory that
    asks the container for something needing its own key is a cycle, not a
    recursion without end.
    """
    emitter.emit(1, "with frame.lock:")
    emitter.emit(2, "pending = frame.pending")
    emitter.emit(2, "building = frame.building")
    # Twice: first for a frame that holds none of the instances this build caches
    # (a fresh scope, most often), which builds them all without a look-up; then
    # the general variant, which looks each one up first.
    fresh: set[Hashable] = {node.key}  # another thread may have built it by now
    emitter.fresh = fresh
    fresh_at = len(emitter.lines)
    emitter.emit(2, "local = []")
    _cached_top(emitter, node, key)
    emitter.fresh = None
    marks = emitter.name("marks", frozenset(fresh))
    emitter.lines[fresh_at:fresh_at] = [
        "        if not pending and building is None and"
        f" {emitter.name('fresh', frozenset(fresh))}.isdisjoint(inst):",
        f"            frame.building = {marks}",
        "            try:",
    ]
    body_at = fresh_at + 3
    emitter.lines[body_at:] = ["        " + line for line in emitter.lines[body_at:]]
    emitter.emit(3, "finally:")
    emitter.emit(4, "frame.building = None")
    emitter.emit(2, "else:")
    general_at = len(emitter.lines)
    for line in (
        f"v0 = inst.get({key}, MISSING)",
        "if v0 is not MISSING:",
        "    return v0",
        f"if building and {key} in building:",
        f"    raise cycle(building, {key})",
        f"if pending and {key} in pending:",
        f"    raise busy(pending, {key})",
        f"frame.building = {marks} if building is None else building | {marks}",
        "try:",
        "    local = []",
    ):
        emitter.emit(2, line)
    body_at = len(emitter.lines)
    _cached_top(emitter, node, key)
    emitter.lines[body_at:] = ["    " + line for line in emitter.lines[body_at:]]
    emitter.emit(2, "finally:")
    emitter.emit(3, "frame.building = building")
    emitter.lines[general_at:] = ["    " + line for line in emitter.lines[general_at:]]
    emitter.emit(2, "if local:")
    emitter.emit(3, "frame.adopt(local)")
    emitter.emit(2, "return v0")


def _frame_keys(emitter: _Emitter, node: Node) -> tuple[Hashable, ...]:
    """The keys a build of ``node`` caches in its own frame: itself, and what it hoists."""
    found: dict[Hashable, None] = {node.key: None}
    todo = [node]
    seen: set[int] = set()
    while todo:
        current = todo.pop()
        for _, dep in current.args:
            if id(dep) in seen:
                continue
            seen.add(id(dep))
            if emitter.same_frame(dep):
                found[dep.key] = None
                todo.append(dep)
            elif emitter.inlined(dep):
                todo.append(dep)
    return tuple(found)


def _cached_top(emitter: _Emitter, node: Node, key: str) -> None:
    """The build of a cached top node ``v0`` and all it needs, in ``try``."""
    emitter.known.clear()
    emitter.known[id(node)] = "v0"
    emitter.emit(2, "try:")
    emitter.hoist(node, 3, ())
    emitter.construct(node, "v0", key, 3, (), cached=True)
    emitter.emit(2, "except BaseException as exc:")
    emitter.emit(3, f"failed(local, exc, {key})")
    emitter.emit(3, "raise")
