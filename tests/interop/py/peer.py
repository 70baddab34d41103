#!/usr/bin/env python3
"""Autobahn|Python interop peer for verger's WAMP router.

One process plays one side of the interop scenarios:

* ``responder``: registers procedures and subscribes to topics (callee and
  subscriber side), prints ``{"event": "ready"}`` once everything is in place,
  then leaves as soon as every invocation and event it expects has arrived;
* ``initiator``: calls the procedures and publishes the events (caller and
  publisher side), checks the answers, then leaves.

Every observation is one JSON line on stdout; the last line is
``{"event": "done", ...}``.  On any failure, including the overall
``--timeout``, the peer prints ``{"event": "fail", "reason": ...}``, a
``FAIL:`` line on stderr, and exits non-zero.  The JavaScript peer
(``../js/peer.js``) takes the same arguments and prints the same lines, so any
responder works with any initiator.

Example (start the responder first and wait for its "ready" line)::

    .venv/bin/python tests/interop/py/peer.py --url ws://127.0.0.1:8080/ws \
        --realm realm1 --serializer cbor --role responder
    .venv/bin/python tests/interop/py/peer.py --url ws://127.0.0.1:8080/ws \
        --realm realm1 --serializer cbor --role initiator
"""

import argparse
import asyncio
import base64
import json
import logging
import sys

import cbor2
import txaio

txaio.use_asyncio()

from autobahn.asyncio.component import Component  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.types import (  # noqa: E402
    CallOptions,
    CallResult,
    PublishOptions,
    RegisterOptions,
    SubscribeOptions,
)

PEER = "python"
ALL_SCENARIOS = ["rpc", "echo", "error", "progress", "pubsub", "patterns"]
EXTRA_SCENARIOS = ["shared", "bigint", "testament"]

# The tutorial (shared/seed): `com.example.move` answers with this message.
MOVE_MESSAGE = "Mouarfarfarf !"
CHAT_TEXT = "Ouech les potos ! Bien ou bien ?"
ERROR_URI = "com.example.error.baveux"
ERROR_ARGS = ["pas de bisou", 42]
ERROR_KWARGS = {"reason": "baveux"}
# Values every serializer (and JavaScript numbers) carry exactly.
ECHO_ARGS = [
    1,
    -2,
    3.5,
    "élagage 🌳",
    True,
    False,
    None,
    [1, [2, []]],
    {"a": {"b": [], "c": {}}},
    9007199254740991,
    -4294967296,
]
ECHO_KWARGS = {"tree": {"row": 7, "ok": False}, "empty": "", "ratio": 0.25}
PROGRESS_STEPS = 3
# Published in this order; every publication of one publisher reaches a
# subscriber in order, so a wrongly matched first topic would show up.
PATTERN_PUBLICATIONS = [
    "com.example.other.thing",  # matches nothing
    "com.example.row.7",  # prefix only
    "com.example.sprayer.valve",  # wildcard only
    "com.example.row.valve",  # both
]
PATTERN_SUBSCRIPTIONS = [("com.example.row.", "prefix"), ("com.example..valve", "wildcard")]
PATTERN_EVENTS = 4
SHARED_CALLS = 4
# `bigint` (CBOR only): integers beyond 64 bits (CBOR bignums) and a typed array
# (CBOR tag 69, uint16 little-endian), which a router must pass on untouched.
BIG_TYPED_ARRAY = (69, b"\x01\x00\x02\x00\xff\xff")
BIG_ARGS = [2**64, 2**128 - 1, -(2**64) - 1]
BIG_KWARGS = {"id": 2**100}
# Session testaments (wamp.session.add_testament): published by the router when the
# initiator's session ends, detached scope first, then destroyed.
TESTAMENT_TOPIC = "com.example.testament"


class Failure(Exception):
    """A scenario check failed."""


def _jsonable(value):
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(value).decode()}
    raise TypeError(f"cannot print {type(value).__name__}")


def describe(value):
    """The `bigint` scenario's values as printable JSON, as the JavaScript peer prints
    them: {"$bigint": "<decimal>"} beyond 2^53, {"$tag": n, "$bytes": <base64>}."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) > 2**53:
        return {"$bigint": str(value)}
    if isinstance(value, cbor2.CBORTag):
        return {"$tag": value.tag, "$bytes": base64.b64encode(value.value).decode()}
    if isinstance(value, list | tuple):
        return [describe(v) for v in value]
    if isinstance(value, dict):
        return {k: describe(v) for k, v in value.items()}
    return value


def big_args():
    return [*BIG_ARGS, cbor2.CBORTag(*BIG_TYPED_ARRAY)]


def emit(**fields):
    print(json.dumps({"peer": PEER, **fields}, default=_jsonable, ensure_ascii=False), flush=True)


def expect(what, got, want):
    # Exact equality, but a bool never equals an int here (True == 1 in Python).
    if json.dumps(got, sort_keys=True, default=_jsonable) != json.dumps(
        want, sort_keys=True, default=_jsonable
    ):
        raise Failure(f"{what}: got {got!r}, expected {want!r}")


def result_parts(res):
    """Split a call result into (args, kwargs) whatever shape Autobahn gave it."""
    if isinstance(res, CallResult):
        return list(res.results), dict(res.kwresults)
    if res is None:
        return [], {}
    return [res], {}


class Responder:
    """Callee and subscriber side."""

    def __init__(self, session, opts):
        self.session = session
        self.opts = opts
        self.loop = asyncio.get_running_loop()
        self.pending = {}
        self.all_seen = self.loop.create_future()

    def expect_count(self, key, count):
        self.pending[key] = self.pending.get(key, 0) + count

    def seen(self, key, **fields):
        emit(role="responder", **fields)
        left = self.pending.get(key, 0) - 1
        if left < 0:
            self.fail(f"unexpected {key}: {fields}")
            return
        self.pending[key] = left
        if not any(self.pending.values()) and not self.all_seen.done():
            self.all_seen.set_result(None)

    def fail(self, reason):
        if not self.all_seen.done():
            self.all_seen.set_exception(Failure(reason))

    async def setup(self, scenarios):
        s = self.session
        if "rpc" in scenarios:

            def move(x, y, z=0, mean=None):
                self.seen("move", scenario="rpc", step="move", args=[x, y], kwargs={"mean": mean}, z=z)
                return CallResult(MOVE_MESSAGE, x=x, y=y, z=z, mean=mean)

            def kiss(*args, **kwargs):
                self.seen("kiss", scenario="rpc", step="kiss", args=list(args), kwargs=kwargs)
                return kwargs.get("type") != "baveux"

            await s.register(move, "com.example.move")
            await s.register(kiss, "com.example.kiss")
            self.expect_count("move", 1)
            self.expect_count("kiss", 2)
        if "echo" in scenarios:

            def echo(*args, **kwargs):
                self.seen("echo", scenario="echo", step="echo", args=list(args), kwargs=kwargs)
                return CallResult(*args, **kwargs)

            await s.register(echo, "com.example.echo")
            self.expect_count("echo", 1)
        if "error" in scenarios:

            def fail():
                self.seen("fail", scenario="error", step="fail")
                raise ApplicationError(ERROR_URI, *ERROR_ARGS, **ERROR_KWARGS)

            await s.register(fail, "com.example.fail")
            self.expect_count("fail", 1)
        if "progress" in scenarios:

            async def progress(n, details=None):
                # The dealer leaves receive_progress out when it disregards this
                # callee's progressive results; then only the final result goes back.
                streamed = details is not None and details.progress is not None
                if streamed:
                    for i in range(1, n + 1):
                        details.progress(i, step=i)
                        await asyncio.sleep(0.01)
                self.seen("progress", scenario="progress", step="progress", args=[n], receive_progress=streamed)
                return CallResult("done", n, streamed=streamed)

            await s.register(progress, "com.example.progress", RegisterOptions(details_arg="details"))
            self.expect_count("progress", 1)
        if "pubsub" in scenarios:

            def message(text, name, details=None):
                self.seen(
                    "message", scenario="pubsub", step="event", topic=details.topic, args=[text, name]
                )

            await s.subscribe(message, "com.example.message", SubscribeOptions(details_arg="details"))
            self.expect_count("message", 1)
        if "patterns" in scenarios:
            for topic, match in PATTERN_SUBSCRIPTIONS:

                def on_event(*args, details=None, match=match, **kwargs):
                    self.seen(
                        "pattern", scenario="patterns", step="event", match=match, topic=details.topic,
                        args=list(args),
                    )

                await s.subscribe(on_event, topic, SubscribeOptions(match=match, details_arg="details"))
            self.expect_count("pattern", PATTERN_EVENTS)
        if "bigint" in scenarios:

            def bigecho(*args, **kwargs):
                self.seen("bigecho", scenario="bigint", step="invocation", args=describe(list(args)),
                          kwargs=describe(kwargs))
                return CallResult(*args, **kwargs)

            def big(*args, **kwargs):
                self.seen("big", scenario="bigint", step="event", args=describe(list(args)), kwargs=describe(kwargs))

            await s.register(bigecho, "com.example.bigecho")
            await s.subscribe(big, "com.example.big")
            self.expect_count("bigecho", 1)
            self.expect_count("big", 1)
        if "testament" in scenarios:

            def testament(*args, details=None, **kwargs):
                self.seen(
                    "testament", scenario="testament", step="event", args=list(args), kwargs=kwargs,
                    retained=bool(details.retained),
                )

            await s.subscribe(testament, TESTAMENT_TOPIC, SubscribeOptions(details_arg="details"))
            self.expect_count("testament", 2)
        if "shared" in scenarios:

            def shared(*args, **kwargs):
                self.seen("shared", scenario="shared", step="invocation", id=self.opts.id)
                return self.opts.id

            await s.register(shared, "com.example.shared", RegisterOptions(invoke="roundrobin"))
            self.expect_count("shared", self.opts.shared_calls)

    async def run(self, scenarios):
        await self.setup(scenarios)
        emit(role="responder", event="ready", scenarios=scenarios)
        await self.all_seen
        if "testament" in scenarios:
            # A late subscriber gets the retained testament (another subscription:
            # prefix match, with get_retained).
            self.all_seen = self.loop.create_future()
            self.expect_count("retained", 1)

            def retained(*args, details=None, **kwargs):
                self.seen(
                    "retained", scenario="testament", step="retained", args=list(args), kwargs=kwargs,
                    retained=bool(details.retained), topic=details.topic,
                )

            await self.session.subscribe(
                retained, TESTAMENT_TOPIC,
                SubscribeOptions(match="prefix", get_retained=True, details_arg="details"),
            )
            await self.all_seen
        # Let the last YIELD leave before GOODBYE.
        await asyncio.sleep(0.1)


async def initiate(session, scenarios, opts):
    def obs(**fields):
        emit(role="initiator", **fields)

    if "rpc" in scenarios:
        res = await session.call("com.example.move", 3, 5, mean="roulades")
        args, kwargs = result_parts(res)
        obs(scenario="rpc", step="move", args=args, kwargs=kwargs)
        expect("move args", args, [MOVE_MESSAGE])
        expect("move kwargs", kwargs, {"x": 3, "y": 5, "z": 0, "mean": "roulades"})
        for kind, want in [("baveux", False), ("tendre", True)]:
            res = await session.call("com.example.kiss", type=kind)
            obs(scenario="rpc", step="kiss", type=kind, result=res)
            expect(f"kiss {kind}", res, want)
    if "echo" in scenarios:
        res = await session.call("com.example.echo", *ECHO_ARGS, **ECHO_KWARGS)
        args, kwargs = result_parts(res)
        obs(scenario="echo", step="echo", args=args, kwargs=kwargs)
        expect("echo args", args, ECHO_ARGS)
        expect("echo kwargs", kwargs, ECHO_KWARGS)
    if "error" in scenarios:
        for proc, want in [("com.example.fail", ERROR_URI), ("com.example.nothing", "wamp.error.no_such_procedure")]:
            try:
                res = await session.call(proc)
            except ApplicationError as e:
                obs(scenario="error", step=proc, error=e.error, args=list(e.args), kwargs=e.kwargs or {})
                expect(f"{proc} error", e.error, want)
                if proc == "com.example.fail":
                    expect("error args", list(e.args), ERROR_ARGS)
                    expect("error kwargs", e.kwargs, ERROR_KWARGS)
            else:
                raise Failure(f"{proc} returned {res!r} instead of failing")
    if "progress" in scenarios:
        progress = []

        def on_progress(*args, **kwargs):
            progress.append({"args": list(args), "kwargs": kwargs})

        res = await session.call(
            "com.example.progress", PROGRESS_STEPS, options=CallOptions(on_progress=on_progress)
        )
        args, kwargs = result_parts(res)
        obs(scenario="progress", step="progress", progress=progress, args=args, kwargs=kwargs)
        streamed = kwargs.get("streamed")
        if not isinstance(streamed, bool):
            raise Failure(f"progress result kwargs {kwargs!r} lack the callee's 'streamed' flag")
        steps = range(1, PROGRESS_STEPS + 1) if streamed else []
        expect("progress updates", progress, [{"args": [i], "kwargs": {"step": i}} for i in steps])
        expect("progress result", args, ["done", PROGRESS_STEPS])
    if "pubsub" in scenarios:
        pub = await session.publish(
            "com.example.message", CHAT_TEXT, PEER, options=PublishOptions(acknowledge=True)
        )
        obs(scenario="pubsub", step="publish", acknowledged=isinstance(pub.id, int) and pub.id > 0)
        if not (isinstance(pub.id, int) and pub.id > 0):
            raise Failure(f"bad publication id {pub.id!r}")
    if "patterns" in scenarios:
        for topic in PATTERN_PUBLICATIONS:
            await session.publish(topic, topic, options=PublishOptions(acknowledge=True))
        obs(scenario="patterns", step="publish", topics=PATTERN_PUBLICATIONS)
    if "bigint" in scenarios:
        res = await session.call("com.example.bigecho", *big_args(), **BIG_KWARGS)
        args, kwargs = result_parts(res)
        obs(scenario="bigint", step="result", args=describe(args), kwargs=describe(kwargs))
        expect("bigecho args", describe(args), describe(big_args()))
        expect("bigecho kwargs", describe(kwargs), describe(BIG_KWARGS))
        await session.publish("com.example.big", *big_args(), options=PublishOptions(acknowledge=True), **BIG_KWARGS)
        obs(scenario="bigint", step="publish")
    if "testament" in scenarios:
        # One added and flushed again, then one per scope; the router publishes those
        # two when this session leaves.
        first = await session.call("wamp.session.add_testament", TESTAMENT_TOPIC, ["flushed", PEER], {})
        flushed = await session.call("wamp.session.flush_testaments", scope="destroyed")
        gone = await session.call(
            "wamp.session.add_testament", TESTAMENT_TOPIC, ["gone", PEER], {"state": "gone"},
            publish_options={"retain": True},
        )
        detached = await session.call(
            "wamp.session.add_testament", TESTAMENT_TOPIC, ["detached", PEER], {"state": "detached"},
            scope="detached",
        )
        ids = [first, gone, detached]
        obs(scenario="testament", step="added", ids_are_ints=all(isinstance(i, int) for i in ids), flushed=flushed)
        expect("flushed testaments", flushed, 1)
        try:
            await session.call("wamp.session.add_testament", TESTAMENT_TOPIC, [], {}, scope="forever")
        except ApplicationError as e:
            obs(scenario="testament", step="bad scope", error=e.error)
        else:
            raise Failure("add_testament with scope 'forever' succeeded")
    if "shared" in scenarios:
        ids = [await session.call("com.example.shared") for _ in range(opts.shared_calls)]
        obs(scenario="shared", step="calls", ids=ids)
        if len(set(ids)) != 2 or any(a == b for a, b in zip(ids, ids[1:])):
            raise Failure(f"round-robin calls did not alternate between two callees: {ids}")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="ws://host:port/path (WebSocket) or rs://host:port (RawSocket)")
    p.add_argument("--realm", default="realm1")
    p.add_argument("--serializer", choices=["json", "msgpack", "cbor"], default="json")
    p.add_argument("--role", choices=["responder", "initiator"], required=True)
    p.add_argument(
        "--scenarios",
        default=",".join(ALL_SCENARIOS),
        help=f"comma-separated subset of {ALL_SCENARIOS + EXTRA_SCENARIOS} (default: all but shared, bigint, testament)",
    )
    p.add_argument("--id", default="py", help="name a shared-registration callee answers with")
    p.add_argument("--shared-calls", type=int, default=None,
                   help="calls the initiator makes / invocations a responder awaits (shared)")
    p.add_argument("--timeout", type=float, default=20.0, help="overall seconds before failing")
    p.add_argument("--verbose", action="store_true", help="Autobahn debug logs on stderr")
    opts = p.parse_args(argv)
    opts.scenarios = [s for s in opts.scenarios.split(",") if s]
    unknown = set(opts.scenarios) - set(ALL_SCENARIOS + EXTRA_SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios: {sorted(unknown)}")
    if opts.shared_calls is None:
        opts.shared_calls = SHARED_CALLS if opts.role == "initiator" else SHARED_CALLS // 2
    return opts


def transport_config(opts):
    if opts.url.startswith(("rs://", "rss://")):
        return {"type": "rawsocket", "url": opts.url, "serializer": opts.serializer, "max_retries": 0}
    return {"type": "websocket", "url": opts.url, "serializers": [opts.serializer], "max_retries": 0}


async def amain(opts):
    outcome = {}

    async def main(_loop, session):
        try:
            if opts.role == "responder":
                await Responder(session, opts).run(opts.scenarios)
            else:
                await initiate(session, opts.scenarios, opts)
            outcome["ok"] = True
        except ApplicationError as e:
            outcome["error"] = f"unexpected WAMP error {e.error} {list(e.args)} {e.kwargs or {}}"
        except Exception as e:  # noqa: BLE001 - every failure is reported the same way
            outcome["error"] = f"{type(e).__name__}: {e}"

    component = Component(transports=[transport_config(opts)], realm=opts.realm, main=main)
    loop = asyncio.get_running_loop()
    left = loop.create_future()

    def on_join(session, details):
        emit(
            role=opts.role, event="joined", realm=details.realm, session=details.session,
            serializer=opts.serializer, transport=transport_config(opts)["type"],
        )

    def on_leave(session, details):
        # Once the scenarios are over, we are the ones leaving: the router may answer
        # wamp.close.normal or wamp.close.goodbye_and_out.
        if "ok" not in outcome:
            outcome.setdefault("error", f"session closed: {details.reason} {details.message or ''}".strip())
        if not left.done():
            left.set_result(None)

    def on_connectfailure(component, exc):
        if not left.done():  # RawSocket reports its own clean close as a failure
            outcome.setdefault("error", f"cannot connect to {opts.url}: {exc}")

    component.on("join", on_join)
    component.on("leave", on_leave)
    component.on("connectfailure", on_connectfailure)
    # Wait for our session to leave rather than for the component to finish:
    # over RawSocket the asyncio Component reconnects after a clean leave
    # (crossbario/autobahn-python#1530, #1231).
    started = asyncio.ensure_future(component.start(loop))
    await asyncio.wait([started, left], return_when=asyncio.FIRST_COMPLETED)
    if started.done() and started.exception() is not None:
        outcome.setdefault("error", f"component failed: {started.exception()}")
    if "ok" not in outcome or "error" in outcome:
        raise Failure(outcome.get("error", "session ended before the scenarios ran"))


def main(argv):
    opts = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if opts.verbose else logging.CRITICAL)
    txaio.start_logging(level="debug" if opts.verbose else "critical", out=sys.stderr)
    try:
        asyncio.run(asyncio.wait_for(amain(opts), opts.timeout))
    except (Failure, asyncio.TimeoutError, OSError) as e:
        reason = str(e) or f"timed out after {opts.timeout}s"
        if isinstance(e, asyncio.TimeoutError):
            reason = f"timed out after {opts.timeout}s"
        emit(role=opts.role, event="fail", reason=reason)
        print(f"FAIL: {PEER} {opts.role}: {reason}", file=sys.stderr, flush=True)
        return 1
    emit(role=opts.role, event="done", scenarios=opts.scenarios)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
