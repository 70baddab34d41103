#!/usr/bin/env node
// Autobahn|JS interop peer for verger's WAMP router.
//
// The twin of ../py/peer.py: same arguments, same scenarios, same JSON lines
// on stdout, so any responder works with any initiator.
//
// * `responder`: registers procedures and subscribes to topics (callee and
//   subscriber side), prints {"event": "ready"} once everything is in place,
//   then leaves as soon as every invocation and event it expects has arrived;
// * `initiator`: calls the procedures and publishes the events (caller and
//   publisher side), checks the answers, then leaves.
//
// On any failure, including the overall --timeout, the peer prints
// {"event": "fail", "reason": ...}, a `FAIL:` line on stderr, and exits 1.
//
// autobahn@26 uses the WebSocket built into Node 22; on Node 20 run it as
// `node --experimental-websocket peer.js ...` (the flag is harmless on 22).
// `rs://host:port` URLs use Autobahn's RawSocket transport instead.
'use strict';

// Autobahn|JS logs connection chatter with console.warn, bound when it loads:
// keep stderr for our own FAIL line unless --verbose.
if (!process.argv.includes('--verbose')) console.warn = () => {};
const autobahn = require('autobahn');

const PEER = 'javascript';
const ALL_SCENARIOS = ['rpc', 'echo', 'error', 'progress', 'pubsub', 'patterns'];
const EXTRA_SCENARIOS = ['shared', 'bigint', 'testament'];

// The tutorial (shared/seed): `com.example.move` answers with this message.
const MOVE_MESSAGE = 'Mouarfarfarf !';
const CHAT_TEXT = 'Ouech les potos ! Bien ou bien ?';
const ERROR_URI = 'com.example.error.baveux';
const ERROR_ARGS = ['pas de bisou', 42];
const ERROR_KWARGS = { reason: 'baveux' };
// Values every serializer (and JavaScript numbers) carry exactly.
const ECHO_ARGS = [
  1, -2, 3.5, 'élagage 🌳', true, false, null, [1, [2, []]], { a: { b: [], c: {} } },
  9007199254740991, -4294967296,
];
const ECHO_KWARGS = { tree: { row: 7, ok: false }, empty: '', ratio: 0.25 };
const PROGRESS_STEPS = 3;
// Published in this order; every publication of one publisher reaches a
// subscriber in order, so a wrongly matched first topic would show up.
const PATTERN_PUBLICATIONS = [
  'com.example.other.thing', // matches nothing
  'com.example.row.7', // prefix only
  'com.example.sprayer.valve', // wildcard only
  'com.example.row.valve', // both
];
const PATTERN_SUBSCRIPTIONS = [['com.example.row.', 'prefix'], ['com.example..valve', 'wildcard']];
const PATTERN_EVENTS = 4;
const SHARED_CALLS = 4;
// `bigint` (CBOR only): integers beyond 64 bits (CBOR bignums) and a typed array
// (CBOR tag 69, uint16 little-endian), which a router must pass on untouched.
const BIG_ARGS = [2n ** 64n, 2n ** 128n - 1n, -(2n ** 64n) - 1n, new Uint16Array([1, 2, 65535])];
const BIG_KWARGS = { id: 2n ** 100n };
// Session testaments (wamp.session.add_testament): published by the router when the
// initiator's session ends, detached scope first, then destroyed.
const TESTAMENT_TOPIC = 'com.example.testament';

class Failure extends Error {}

function jsonable(_key, value) {
  if (value instanceof Uint8Array || (value && value.type === 'Buffer' && Array.isArray(value.data))) {
    return { $bytes: Buffer.from(value.data || value).toString('base64') };
  }
  return value;
}

// The `bigint` scenario's values as printable JSON: {"$bigint": "<decimal>"} and
// {"$tag": <CBOR tag>, "$bytes": <base64>} (the Python peer prints the same).
const TYPED_ARRAY_TAGS = { Uint8Array: 64, Uint16Array: 69, Uint32Array: 70, Float32Array: 85, Float64Array: 86 };
function describe(value) {
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (ArrayBuffer.isView(value) && value.constructor.name in TYPED_ARRAY_TAGS) {
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return { $tag: TYPED_ARRAY_TAGS[value.constructor.name], $bytes: bytes.toString('base64') };
  }
  if (Array.isArray(value)) return value.map(describe);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, describe(v)]));
  }
  return value;
}

function emit(fields) {
  process.stdout.write(JSON.stringify({ peer: PEER, ...fields }, jsonable) + '\n');
}

// Canonical JSON (sorted keys) so that equality ignores map order.
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object' && !Buffer.isBuffer(value)) {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical(value[k])]));
  }
  return value;
}

function expect(what, got, want) {
  const g = JSON.stringify(canonical(got), jsonable);
  const w = JSON.stringify(canonical(want), jsonable);
  if (g !== w) throw new Failure(`${what}: got ${g}, expected ${w}`);
}

// Split a call result into [args, kwargs] whatever shape Autobahn gave it.
function resultParts(res) {
  if (res instanceof autobahn.Result) return [res.args || [], res.kwargs || {}];
  if (res === undefined || res === null) return [[], {}];
  return [[res], {}];
}

function describeError(e) {
  if (e instanceof autobahn.Error) {
    return `unexpected WAMP error ${e.error} ${JSON.stringify(e.args)} ${JSON.stringify(e.kwargs)}`;
  }
  return e && e.message ? e.message : String(e);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class Responder {
  constructor(session, opts) {
    this.session = session;
    this.opts = opts;
    this.pending = {};
    this.allSeen = new Promise((resolve, reject) => {
      this.resolveAll = resolve;
      this.rejectAll = reject;
    });
  }

  expectCount(key, count) {
    this.pending[key] = (this.pending[key] || 0) + count;
  }

  seen(key, fields) {
    emit({ role: 'responder', ...fields });
    const left = (this.pending[key] || 0) - 1;
    if (left < 0) {
      this.rejectAll(new Failure(`unexpected ${key}: ${JSON.stringify(fields)}`));
      return;
    }
    this.pending[key] = left;
    if (Object.values(this.pending).every((n) => n === 0)) this.resolveAll();
  }

  async setup(scenarios) {
    const s = this.session;
    if (scenarios.includes('rpc')) {
      // The tutorial's Python callee: proc(self, x, y, z=0, mean=None).
      await s.register('com.example.move', (args, kwargs) => {
        const [x, y, z = 0] = args;
        const mean = kwargs.mean === undefined ? null : kwargs.mean;
        this.seen('move', { scenario: 'rpc', step: 'move', args: [x, y], kwargs: { mean }, z });
        return new autobahn.Result([MOVE_MESSAGE], { x, y, z, mean });
      });
      // The tutorial's JavaScript callee.
      await s.register('com.example.kiss', (args, kwargs) => {
        this.seen('kiss', { scenario: 'rpc', step: 'kiss', args, kwargs });
        return kwargs.type !== 'baveux';
      });
      this.expectCount('move', 1);
      this.expectCount('kiss', 2);
    }
    if (scenarios.includes('echo')) {
      await s.register('com.example.echo', (args, kwargs) => {
        this.seen('echo', { scenario: 'echo', step: 'echo', args, kwargs });
        return new autobahn.Result(args, kwargs);
      });
      this.expectCount('echo', 1);
    }
    if (scenarios.includes('error')) {
      await s.register('com.example.fail', () => {
        this.seen('fail', { scenario: 'error', step: 'fail' });
        throw new autobahn.Error(ERROR_URI, ERROR_ARGS, ERROR_KWARGS);
      });
      this.expectCount('fail', 1);
    }
    if (scenarios.includes('progress')) {
      await s.register('com.example.progress', async (args, kwargs, details) => {
        const n = args[0];
        // Autobahn|JS does not announce call_canceling as a callee, so a dealer that
        // follows the spec disregards its progressive results and leaves
        // receive_progress out (details.progress is null): then only the final result
        // goes back.
        const streamed = Boolean(details.progress);
        if (streamed) {
          for (let i = 1; i <= n; i++) {
            details.progress([i], { step: i });
            await sleep(10);
          }
        }
        this.seen('progress', { scenario: 'progress', step: 'progress', args: [n], receive_progress: streamed });
        return new autobahn.Result(['done', n], { streamed });
      });
      this.expectCount('progress', 1);
    }
    if (scenarios.includes('pubsub')) {
      // The tutorial's subscriber: msgCallback(args, kwargs).
      await s.subscribe('com.example.message', (args, kwargs, details) => {
        this.seen('message', { scenario: 'pubsub', step: 'event', topic: details.topic, args });
      });
      this.expectCount('message', 1);
    }
    if (scenarios.includes('patterns')) {
      for (const [topic, match] of PATTERN_SUBSCRIPTIONS) {
        await s.subscribe(topic, (args, kwargs, details) => {
          this.seen('pattern', { scenario: 'patterns', step: 'event', match, topic: details.topic, args });
        }, { match });
      }
      this.expectCount('pattern', PATTERN_EVENTS);
    }
    if (scenarios.includes('bigint')) {
      await s.register('com.example.bigecho', (args, kwargs) => {
        this.seen('bigecho', { scenario: 'bigint', step: 'invocation', args: describe(args), kwargs: describe(kwargs) });
        return new autobahn.Result(args, kwargs);
      });
      await s.subscribe('com.example.big', (args, kwargs) => {
        this.seen('big', { scenario: 'bigint', step: 'event', args: describe(args), kwargs: describe(kwargs) });
      });
      this.expectCount('bigecho', 1);
      this.expectCount('big', 1);
    }
    if (scenarios.includes('testament')) {
      await s.subscribe(TESTAMENT_TOPIC, (args, kwargs, details) => {
        this.seen('testament', {
          scenario: 'testament', step: 'event', args: args || [], kwargs: kwargs || {},
          retained: Boolean(details.retained),
        });
      });
      this.expectCount('testament', 2);
    }
    if (scenarios.includes('shared')) {
      await s.register('com.example.shared', () => {
        this.seen('shared', { scenario: 'shared', step: 'invocation', id: this.opts.id });
        return this.opts.id;
      }, { invoke: 'roundrobin' });
      this.expectCount('shared', this.opts.sharedCalls);
    }
  }

  async run(scenarios) {
    await this.setup(scenarios);
    emit({ role: 'responder', event: 'ready', scenarios });
    await this.allSeen;
    if (scenarios.includes('testament')) {
      // A late subscriber gets the retained testament (another subscription: prefix
      // match, with get_retained).
      this.allSeen = new Promise((resolve, reject) => {
        this.resolveAll = resolve;
        this.rejectAll = reject;
      });
      this.expectCount('retained', 1);
      await this.session.subscribe(TESTAMENT_TOPIC, (args, kwargs, details) => {
        this.seen('retained', {
          scenario: 'testament', step: 'retained', args: args || [], kwargs: kwargs || {},
          retained: Boolean(details.retained), topic: details.topic,
        });
      }, { match: 'prefix', get_retained: true });
      await this.allSeen;
    }
    // Let the last YIELD leave before GOODBYE.
    await sleep(100);
  }
}

async function initiate(session, scenarios, opts) {
  const obs = (fields) => emit({ role: 'initiator', ...fields });

  if (scenarios.includes('rpc')) {
    // The tutorial's JavaScript caller.
    const [args, kwargs] = resultParts(await session.call('com.example.move', [3, 5], { mean: 'roulades' }));
    obs({ scenario: 'rpc', step: 'move', args, kwargs });
    expect('move args', args, [MOVE_MESSAGE]);
    expect('move kwargs', kwargs, { x: 3, y: 5, z: 0, mean: 'roulades' });
    for (const [type, want] of [['baveux', false], ['tendre', true]]) {
      const res = await session.call('com.example.kiss', [], { type });
      obs({ scenario: 'rpc', step: 'kiss', type, result: res });
      expect(`kiss ${type}`, res, want);
    }
  }
  if (scenarios.includes('echo')) {
    const [args, kwargs] = resultParts(await session.call('com.example.echo', ECHO_ARGS, ECHO_KWARGS));
    obs({ scenario: 'echo', step: 'echo', args, kwargs });
    expect('echo args', args, ECHO_ARGS);
    expect('echo kwargs', kwargs, ECHO_KWARGS);
  }
  if (scenarios.includes('error')) {
    for (const [proc, want] of [['com.example.fail', ERROR_URI], ['com.example.nothing', 'wamp.error.no_such_procedure']]) {
      let res;
      try {
        res = await session.call(proc);
      } catch (e) {
        if (!(e instanceof autobahn.Error)) throw e;
        obs({ scenario: 'error', step: proc, error: e.error, args: e.args || [], kwargs: e.kwargs || {} });
        expect(`${proc} error`, e.error, want);
        if (proc === 'com.example.fail') {
          expect('error args', e.args, ERROR_ARGS);
          expect('error kwargs', e.kwargs, ERROR_KWARGS);
        }
        continue;
      }
      throw new Failure(`${proc} returned ${JSON.stringify(res)} instead of failing`);
    }
  }
  if (scenarios.includes('progress')) {
    const progress = [];
    const call = session.call('com.example.progress', [PROGRESS_STEPS], {}, { receive_progress: true });
    // Autobahn|JS reports progressive results through the (when.js) promise's
    // progress callback: then(onResult, onError, onProgress).
    const res = await new Promise((resolve, reject) => {
      call.then(resolve, reject, (update) => {
        const [args, kwargs] = resultParts(update);
        progress.push({ args, kwargs });
      });
    });
    const [args, kwargs] = resultParts(res);
    obs({ scenario: 'progress', step: 'progress', progress, args, kwargs });
    const streamed = kwargs.streamed;
    if (typeof streamed !== 'boolean') {
      throw new Failure(`progress result kwargs ${JSON.stringify(kwargs)} lack the callee's 'streamed' flag`);
    }
    expect('progress updates', progress,
      Array.from({ length: streamed ? PROGRESS_STEPS : 0 }, (_, i) => ({ args: [i + 1], kwargs: { step: i + 1 } })));
    expect('progress result', args, ['done', PROGRESS_STEPS]);
  }
  if (scenarios.includes('pubsub')) {
    // The tutorial's JavaScript publisher, with `acknowledge`.
    const pub = await session.publish('com.example.message', [CHAT_TEXT, PEER], {}, { acknowledge: true });
    const acknowledged = Number.isInteger(pub.id) && pub.id > 0;
    obs({ scenario: 'pubsub', step: 'publish', acknowledged });
    if (!acknowledged) throw new Failure(`bad publication id ${JSON.stringify(pub.id)}`);
  }
  if (scenarios.includes('patterns')) {
    for (const topic of PATTERN_PUBLICATIONS) {
      await session.publish(topic, [topic], {}, { acknowledge: true });
    }
    obs({ scenario: 'patterns', step: 'publish', topics: PATTERN_PUBLICATIONS });
  }
  if (scenarios.includes('bigint')) {
    const [args, kwargs] = resultParts(await session.call('com.example.bigecho', BIG_ARGS, BIG_KWARGS));
    obs({ scenario: 'bigint', step: 'result', args: describe(args), kwargs: describe(kwargs) });
    expect('bigecho args', describe(args), describe(BIG_ARGS));
    expect('bigecho kwargs', describe(kwargs), describe(BIG_KWARGS));
    for (const v of args.slice(0, 3)) {
      if (typeof v !== 'bigint') throw new Failure(`bigecho gave back ${typeof v} instead of a BigInt`);
    }
    await session.publish('com.example.big', BIG_ARGS, BIG_KWARGS, { acknowledge: true });
    obs({ scenario: 'bigint', step: 'publish' });
  }
  if (scenarios.includes('testament')) {
    // One added and flushed again, then one per scope; the router publishes those two
    // when this session leaves.
    const add = (args, kwargs, options) =>
      session.call('wamp.session.add_testament', [TESTAMENT_TOPIC, args, kwargs], options || {});
    const first = await add(['flushed', PEER], {});
    const flushed = await session.call('wamp.session.flush_testaments', [], { scope: 'destroyed' });
    const gone = await add(['gone', PEER], { state: 'gone' }, { publish_options: { retain: true } });
    const detached = await add(['detached', PEER], { state: 'detached' }, { scope: 'detached' });
    const idsAreInts = [first, gone, detached].every((id) => Number.isInteger(id));
    obs({ scenario: 'testament', step: 'added', ids_are_ints: idsAreInts, flushed });
    expect('flushed testaments', flushed, 1);
    let refused = null;
    try {
      await add([], {}, { scope: 'forever' });
    } catch (e) {
      if (!(e instanceof autobahn.Error)) throw e;
      refused = e.error;
    }
    if (refused === null) throw new Failure("add_testament with scope 'forever' succeeded");
    obs({ scenario: 'testament', step: 'bad scope', error: refused });
  }
  if (scenarios.includes('shared')) {
    const ids = [];
    for (let i = 0; i < opts.sharedCalls; i++) ids.push(await session.call('com.example.shared'));
    obs({ scenario: 'shared', step: 'calls', ids });
    if (new Set(ids).size !== 2 || ids.some((id, i) => i > 0 && id === ids[i - 1])) {
      throw new Failure(`round-robin calls did not alternate between two callees: ${JSON.stringify(ids)}`);
    }
  }
}

const USAGE = `usage: peer.js --url URL --role responder|initiator [--realm REALM]
       [--serializer json|msgpack|cbor] [--scenarios a,b,...] [--id NAME]
       [--shared-calls N] [--timeout SECONDS] [--verbose]
  URL: ws://host:port/path (WebSocket) or rs://host:port (RawSocket)
  scenarios: ${ALL_SCENARIOS.concat(EXTRA_SCENARIOS).join(', ')} (default: all but shared, bigint, testament)`;

function usage(message) {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    realm: 'realm1', serializer: 'json', scenarios: ALL_SCENARIOS.join(','), id: 'js', timeout: 20,
  };
  const names = {
    '--url': 'url', '--realm': 'realm', '--serializer': 'serializer', '--role': 'role',
    '--scenarios': 'scenarios', '--id': 'id', '--shared-calls': 'sharedCalls', '--timeout': 'timeout',
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    if (flag === '--verbose') continue;
    if (flag === '-h' || flag === '--help') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    }
    if (!(flag in names)) usage(`unknown argument ${argv[i]}`);
    const value = inline !== undefined ? inline : argv[++i];
    if (value === undefined) usage(`${flag} needs a value`);
    opts[names[flag]] = value;
  }
  if (!opts.url) usage('--url is required');
  if (!['responder', 'initiator'].includes(opts.role)) usage('--role must be responder or initiator');
  if (!['json', 'msgpack', 'cbor'].includes(opts.serializer)) usage(`bad serializer ${opts.serializer}`);
  opts.scenarios = opts.scenarios.split(',').filter(Boolean);
  const unknown = opts.scenarios.filter((s) => !ALL_SCENARIOS.concat(EXTRA_SCENARIOS).includes(s));
  if (unknown.length) usage(`unknown scenarios: ${unknown.join(', ')}`);
  opts.timeout = Number(opts.timeout);
  opts.sharedCalls = opts.sharedCalls === undefined
    ? (opts.role === 'initiator' ? SHARED_CALLS : SHARED_CALLS / 2)
    : Number(opts.sharedCalls);
  return opts;
}

function connectionOptions(opts) {
  const serializer = {
    json: () => new autobahn.serializer.JSONSerializer(),
    msgpack: () => new autobahn.serializer.MsgpackSerializer(),
    cbor: () => new autobahn.serializer.CBORSerializer(),
  }[opts.serializer]();
  const common = {
    realm: opts.realm,
    max_retries: 0,
    retry_if_unreachable: false,
    // Our own handlers throw autobahn.Error on purpose; don't log it.
    on_user_error: () => {},
  };
  const rs = /^rs:\/\/([^:/]+):(\d+)\/?$/.exec(opts.url);
  if (rs) {
    // Autobahn|JS's RawSocket transport hard-codes JSON (lib/transport/rawsocket.js).
    if (opts.serializer !== 'json') usage('Autobahn|JS RawSocket supports only --serializer json');
    return { ...common, transports: [{ type: 'rawsocket', host: rs[1], port: Number(rs[2]) }] };
  }
  return { ...common, url: opts.url, serializers: [serializer] };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const transport = opts.url.startsWith('rs://') ? 'rawsocket' : 'websocket';
  let finished = false;

  const finish = (ok, reason) => {
    if (finished) return;
    finished = true;
    if (ok) {
      emit({ role: opts.role, event: 'done', scenarios: opts.scenarios });
    } else {
      emit({ role: opts.role, event: 'fail', reason });
      process.stderr.write(`FAIL: ${PEER} ${opts.role}: ${reason}\n`);
    }
    // Flush stdout before leaving, whatever the connection still does.
    process.stdout.write('', () => process.exit(ok ? 0 : 1));
  };

  setTimeout(() => finish(false, `timed out after ${opts.timeout}s`), opts.timeout * 1000);
  if (typeof WebSocket === 'undefined' && transport === 'websocket') {
    finish(false, 'no global WebSocket: run node with --experimental-websocket (Node 20) or use Node 22+');
    return;
  }

  let outcome = null;
  if (transport === 'websocket') {
    // Node 20's experimental WebSocket fires only `error`, never `close`, when
    // the handshake fails, so Autobahn would wait forever: report it here.
    const NativeWebSocket = WebSocket;
    globalThis.WebSocket = class extends NativeWebSocket {
      constructor(...args) {
        super(...args);
        this.addEventListener('error', (e) => {
          if (!outcome) finish(false, `WebSocket error on ${opts.url}: ${e.message || 'handshake failed'}`);
        });
      }
    };
  }
  const connection = new autobahn.Connection(connectionOptions(opts));
  connection.onopen = (session, details) => {
    emit({
      role: opts.role, event: 'joined', realm: details.realm, session: session.id,
      serializer: opts.serializer, transport,
    });
    const work = opts.role === 'responder'
      ? new Responder(session, opts).run(opts.scenarios)
      : initiate(session, opts.scenarios, opts);
    work.then(
      () => { outcome = { ok: true }; },
      (e) => { outcome = { ok: false, reason: describeError(e) }; },
    ).then(() => connection.close());
  };
  connection.onclose = (reason, details) => {
    if (outcome && outcome.ok) {
      finish(true);
    } else if (outcome) {
      finish(false, outcome.reason);
    } else {
      const why = [details.reason, details.message].filter(Boolean).join(' ');
      finish(false, `connection ${reason} before the scenarios ran (${opts.url})${why ? ': ' + why : ''}`);
    }
    return true; // never reconnect
  };
  connection.open();
}

main();
