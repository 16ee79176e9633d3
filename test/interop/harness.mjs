// Shared helpers of the interop tests. The Go test TestInteropSocketIOClient
// (socketio/interop_test.go) starts the server and passes its settings in
// the environment; see README.md.
import assert from "node:assert/strict";
import { io, Manager } from "socket.io-client";

function env(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run these tests through "go test -run Interop ./socketio/"`);
  }
  return v;
}

export const SERVER_URL = env("HERALD_URL");
export const ALLOWED_ORIGIN = env("HERALD_ALLOWED_ORIGIN");
export const MAX_PAYLOAD = Number(env("HERALD_MAX_PAYLOAD"));
export const TOKEN = env("HERALD_TOKEN");
export const ACK_TIMEOUT_MS = Number(env("HERALD_ACK_TIMEOUT_MS"));

// UTF8 mixes 2-, 3- and 4-byte sequences; the Go handlers use the same literal.
export const UTF8 = "héllo wörld ✓ 日本語 🎉";

// The three ways a client may connect. final is the transport the
// connection must end up on.
export const MODES = [
  { name: "websocket only", transports: ["websocket"], final: "websocket" },
  { name: "polling only", transports: ["polling"], final: "polling" },
  { name: "default (polling upgraded to websocket)", transports: undefined, final: "websocket" },
];

// options returns client options for mode: a fresh Manager each time (the
// client otherwise shares one per host, with the first caller's options),
// the valid token, and no reconnection unless extra asks for it.
export function options(mode, extra = {}) {
  const o = { forceNew: true, reconnection: false, auth: { token: TOKEN }, ...extra };
  if (mode.transports) {
    o.transports = mode.transports;
  }
  return o;
}

// fastReconnect makes automatic reconnection quick and deterministic.
export const fastReconnect = {
  reconnection: true,
  reconnectionDelay: 50,
  reconnectionDelayMax: 100,
  randomizationFactor: 0,
};

// socket creates a client socket that is closed when the test t ends.
export function socket(t, mode, nsp = "/", extra = {}) {
  const s = io(SERVER_URL + (nsp === "/" ? "" : nsp), options(mode, extra));
  t.after(() => s.disconnect());
  return s;
}

// manager creates a Manager that is closed when the test t ends.
export function manager(t, mode, extra = {}) {
  const m = new Manager(SERVER_URL, options(mode, extra));
  // The manager closes its connection once its last socket disconnects.
  t.after(() => Object.values(m.nsps).forEach((s) => s.disconnect()));
  return m;
}

// connected resolves once s is connected and on its final transport: in
// default mode the polling connection must have been upgraded, which this
// asserts.
export async function connected(s, mode) {
  if (!s.connected) {
    const [err] = await Promise.race([
      once(s, "connect").then(() => [null]),
      once(s, "connect_error"),
    ]);
    if (err) {
      throw new Error(`connect_error: ${err.message}`, { cause: err });
    }
  }
  await upgraded(s.io.engine, mode);
  return s;
}

// upgraded waits for the engine to reach mode.final. In default mode it
// starts on polling and must fire "upgrade" to websocket.
export async function upgraded(engine, mode) {
  if (mode.transports === undefined && engine.transport.name !== "websocket") {
    assert.equal(engine.transport.name, "polling", "default mode starts on polling");
    const [transport] = await Promise.race([
      once(engine, "upgrade"),
      once(engine, "upgradeError").then(([err]) => {
        throw new Error(`upgrade failed: ${err.message}`, { cause: err });
      }),
    ]);
    assert.equal(transport.name, "websocket", "upgrade event names the new transport");
  }
  assert.equal(engine.transport.name, mode.final, "transport in use");
}

// once resolves with the arguments of the next emission of event, or
// rejects after ms.
export function once(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`timed out after ${ms}ms waiting for "${event}"`));
    }, ms);
    function on(...args) {
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(args);
    }
    emitter.on(event, on);
  });
}

// never resolves after ms if event was not emitted meanwhile, and rejects
// as soon as it is.
export function never(emitter, event, ms) {
  return new Promise((resolve, reject) => {
    function on(...args) {
      clearTimeout(timer);
      reject(new Error(`unexpected "${event}": ${JSON.stringify(args)}`));
    }
    const timer = setTimeout(() => {
      emitter.off(event, on);
      resolve();
    }, ms);
    emitter.on(event, on);
  });
}

// ack emits event with args and resolves with the server's ack arguments.
export function ack(s, event, ...args) {
  return new Promise((resolve, reject) => {
    s.timeout(5000).emit(event, ...args, (err, ...res) => (err ? reject(err) : resolve(res)));
  });
}

// delay resolves after ms.
export const delay = (ms) => new Promise((r) => setTimeout(r, ms));
