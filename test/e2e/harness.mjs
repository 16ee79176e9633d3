// Shared helpers of the end-to-end tests: start and stop real `herald serve`
// processes, mint JWTs (good and bad ones), call the HTTP API, and drive the
// real socket.io-client. The Go test TestE2E (cmd/herald/e2e_test.go) builds
// the binary and passes its path in HERALD_BIN; see README.md.
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { io, Manager } from "socket.io-client";

export const HERALD_BIN = process.env.HERALD_BIN;
if (!HERALD_BIN) {
  throw new Error('HERALD_BIN is not set: run these tests through "go test -run E2E ./cmd/herald/"');
}

export const JWT_SECRET = "e2e-jwt-secret-" + randomBytes(8).toString("hex");
export const API_KEY = "e2e-api-key-" + randomBytes(8).toString("hex");

// The transports a scenario runs over. final is the transport the client
// must end up on; the default starts on polling and upgrades.
export const MODES = [
  { name: "websocket", transports: ["websocket"], final: "websocket" },
  { name: "polling", transports: ["polling"], final: "polling" },
  { name: "default", transports: undefined, final: "websocket" },
];
export const WEBSOCKET = MODES[0];
export const POLLING = MODES[1];
export const DEFAULT = MODES[2];

// ISO is the timestamp format of every server → client payload: JavaScript's
// Date.prototype.toISOString.
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

// ---------------------------------------------------------------- processes

const tmpRoot = mkdtempSync(join(tmpdir(), "herald-e2e-"));
const servers = new Set();
after(async () => {
  await Promise.all([...servers].map((s) => s.stop()));
  rmSync(tmpRoot, { recursive: true, force: true });
});

// PG is the PostgreSQL server of the run on PostgreSQL (the Go test runs the
// suite once per store); empty for the SQLite run. Each database it hands
// out is a schema of its own, named after SCHEMA_PREFIX, which the Go test
// drops at the end.
export const PG = process.env.HERALD_E2E_DATABASE_URL ?? "";
const SCHEMA_PREFIX = process.env.HERALD_E2E_SCHEMA_PREFIX ?? "e2e";

// tempDB returns a fresh database: the path of a SQLite file in this run's
// temp dir, or on the PostgreSQL run a URL of a new schema.
export function tempDB() {
  const name = randomBytes(6).toString("hex");
  if (PG) {
    const u = new URL(PG);
    u.searchParams.set("search_path", `${SCHEMA_PREFIX}_${name}`);
    return u.toString();
  }
  return join(tmpRoot, name + ".db");
}

// tempFile returns the path of a fresh file name in this run's temp dir.
export function tempFile(suffix = "") {
  return join(tmpRoot, randomBytes(6).toString("hex") + suffix);
}

// Every server this file starts gets short heartbeats, so that dead
// connections are noticed within a test, and a short drain on SIGTERM.
const DEFAULT_FLAGS = ["--ping-interval", "1s", "--ping-timeout", "10s", "--shutdown-timeout", "3s", "--drain-period", "300ms"];

// startHerald spawns `herald serve` on a free port of 127.0.0.1 (PORT=0;
// the port is read from the "herald listening" log line) with a temp
// database (tempDB), and resolves once it listens. Options: db (reuse a database),
// port (reuse a port, for restarts), flags (extra serve flags), env.
// Servers still running when the file ends are stopped by an after() hook.
export async function startHerald({ db = tempDB(), port = 0, flags = [], env = {} } = {}) {
  const store = db.startsWith("postgres") ? ["--database-url", db] : ["--db", db];
  const proc = spawn(HERALD_BIN, ["serve", ...store, ...DEFAULT_FLAGS, ...flags], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      JWT_SECRET,
      HERALD_API_KEY: API_KEY,
      HOST: "127.0.0.1",
      PORT: String(port),
      LOG_LEVEL: "debug",
      // A race-enabled binary otherwise sleeps 1s at exit.
      GORACE: `atexit_sleep_ms=0 ${process.env.GORACE ?? ""}`.trim(),
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  // Never outlive this test file, even if it dies before its after hooks.
  const killOnExit = () => proc.kill("SIGKILL");
  process.on("exit", killOnExit);
  proc.on("exit", () => process.off("exit", killOnExit));
  let stderr = "";
  const exited = new Promise((resolve) =>
    proc.on("exit", (code, signal) => {
      // HERALD_E2E_LOGS=dir keeps each server's log, for debugging.
      if (process.env.HERALD_E2E_LOGS) {
        writeFileSync(join(process.env.HERALD_E2E_LOGS, `herald-${proc.pid}.log`), stderr);
      }
      resolve({ code, signal });
    }),
  );
  const listening = new Promise((resolve, reject) => {
    proc.stderr.setEncoding("utf8");
    proc.stderr.on("data", (chunk) => {
      stderr += chunk;
      const m = /"msg":"herald listening","addr":"([^"]+)"/.exec(stderr);
      if (m) resolve(m[1]);
    });
    exited.then(({ code, signal }) => reject(new Error(`herald exited (${code ?? signal}) before listening:\n${stderr}`)));
    setTimeout(() => reject(new Error(`herald did not listen within 10s:\n${stderr}`)), 10000).unref();
  });
  const addr = await listening;
  const server = {
    proc,
    db,
    port: Number(addr.split(":").pop()),
    url: `http://${addr}`,
    stderr: () => stderr,
    exited,
    stopped: false,
    // stop sends SIGTERM (a graceful shutdown), waits for the exit and
    // checks that it was clean: exit code 0, no panic, no data race (the
    // binary is race-enabled under go test -race).
    async stop(signal = "SIGTERM") {
      if (this.stopped) return this.exited;
      this.stopped = true;
      servers.delete(this);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const timer = setTimeout(() => proc.kill("SIGKILL"), 8000);
      const res = await exited;
      clearTimeout(timer);
      assertCleanLog(stderr);
      if (signal === "SIGTERM") {
        assert.equal(res.code, 0, `herald exit after SIGTERM: ${JSON.stringify(res)}\n${tail(stderr)}`);
      }
      return res;
    },
  };
  servers.add(server);
  return server;
}

function assertCleanLog(log) {
  const errors = log.split("\n").filter((l) => l.includes('"level":"ERROR"'));
  assert.deepEqual(errors, [], "herald logged errors");
  assert.doesNotMatch(log, /WARNING: DATA RACE/, `data race in herald:\n${log}`);
  assert.doesNotMatch(log, /^panic: |goroutine \d+ \[running\]/m, `panic in herald:\n${log}`);
}

function tail(s, n = 4000) {
  return s.length > n ? "…" + s.slice(-n) : s;
}

// runHerald runs a herald CLI command to completion.
export function runHerald(args, env = {}) {
  return new Promise((resolve) => {
    execFile(
      HERALD_BIN,
      args,
      { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: 10000 },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

// ---------------------------------------------------------------- tokens

const b64url = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
export const nowSec = () => Math.floor(Date.now() / 1000);

// sign builds a JWT from header and claims, signed with HMAC-SHA256 under
// secret; signature: "" leaves it unsigned (alg none).
export function sign(claims, { header = { alg: "HS256", typ: "JWT" }, secret = JWT_SECRET, signature } = {}) {
  const input = `${b64url(header)}.${b64url(claims)}`;
  const sig = signature ?? createHmac("sha256", secret).update(input).digest("base64url");
  return `${input}.${sig}`;
}

// token mints a valid HS256 token for user, like the app that herald serves
// would: sub, email, role, tenant_id (when tenant is set), iat, and exp an
// hour ahead unless ttl (seconds) says otherwise.
export function token(user, { tenant, email = `${user}@example.com`, role = "user", ttl = 3600, extra = {} } = {}) {
  const claims = { sub: user, email, role, iat: nowSec(), exp: nowSec() + ttl, ...extra };
  if (tenant !== undefined) claims.tenant_id = tenant;
  return sign(claims);
}

// uid returns a user id unique to this run, so tests never see each
// other's notifications even on a shared server.
let uidCounter = 0;
export function uid(prefix = "u") {
  return `${prefix}-${process.pid}-${++uidCounter}-${randomBytes(3).toString("hex")}`;
}

// ---------------------------------------------------------------- HTTP API

// api calls the HTTP API of server with the API key (or opts.auth) and
// resolves with {status, headers, body}, body parsed as JSON when it is.
export async function api(server, method, path, body, { auth = API_KEY, raw, headers = {} } = {}) {
  const h = { ...headers };
  if (auth !== null) h.authorization = `Bearer ${auth}`;
  let payload;
  if (raw !== undefined) {
    payload = raw;
    h["content-type"] ??= "application/json";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    h["content-type"] = "application/json";
  }
  const res = await fetch(server.url + path, { method, headers: h, body: payload });
  const text = await res.text();
  let parsed = text;
  try {
    parsed = text === "" ? undefined : JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, body: parsed };
}

// notify creates one notification for user through POST /v1/notifications
// and returns it as the API answered it.
export async function notify(server, user, fields = {}) {
  const body = { userId: user, type: "info", title: "Hello", message: "A message", ...fields };
  const res = await api(server, "POST", "/v1/notifications", body);
  assert.equal(res.status, 201, `POST /v1/notifications: ${JSON.stringify(res.body)}`);
  assert.equal(res.body.notifications.length, 1);
  return res.body.notifications[0];
}

// listAll returns the user's whole feed through GET /v1/me/notifications
// with the user's JWT, following nextCursor.
export async function listAll(server, jwt, query = "") {
  const all = [];
  let before = "";
  for (;;) {
    const res = await api(server, "GET", `/v1/me/notifications?limit=100${query}${before && "&before=" + before}`, undefined, { auth: jwt });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    all.push(...res.body.notifications);
    if (!res.body.nextCursor) return all;
    before = encodeURIComponent(res.body.nextCursor);
  }
}

// unreadOf returns the user's unread count through GET /v1/me/unread-count.
export async function unreadOf(server, jwt) {
  const res = await api(server, "GET", "/v1/me/unread-count", undefined, { auth: jwt });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.unreadCount;
}

export async function stats(server) {
  const res = await api(server, "GET", "/v1/stats");
  assert.equal(res.status, 200);
  return res.body;
}

// settle resolves once each of sockets has received everything the server
// sent user (of tenant) before the call: it emits a marker event to the
// user through the API and waits for it on each socket, whose events
// arrive in order. It replaces sleeping before a check that nothing else
// came.
export async function settle(server, user, sockets, { tenant } = {}) {
  const id = uid("settle");
  const body = { event: "test:settle", data: { id }, userId: user };
  if (tenant !== undefined) body.tenantId = tenant;
  const res = await api(server, "POST", "/v1/emit", body);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  await Promise.all(sockets.map((s) => s.inbox.take("test:settle", { where: (d) => d.id === id })));
}

// ---------------------------------------------------------------- sockets

// Inbox records every event a socket receives, in order, so that tests can
// wait for one, check what came before it, and check that something did not
// come. It is attached before the socket connects, so nothing is missed.
export class Inbox {
  constructor(socket) {
    this.socket = socket;
    this.all = []; // {event, args, offset, data, at, taken}
    this.waiters = new Set();
    // Connection history, for failure messages: disconnect reasons and
    // connect errors are reserved events that onAny does not see.
    this.history = [];
    socket.on("disconnect", (reason, details) => this.history.push(`disconnect: ${reason} ${details?.description?.message ?? details?.description ?? ""}`.trim()));
    socket.on("connect_error", (err) => this.history.push(`connect_error: ${err.message}`));
    socket.io.on("reconnect_attempt", (n) => this.history.push(`reconnect_attempt ${n}`));
    // HERALD_E2E_TRACE=1 adds the Engine.IO packets, with times, to it.
    if (process.env.HERALD_E2E_TRACE) {
      const t0 = Date.now();
      const trace = (engine) => {
        const at = () => Date.now() - t0;
        engine.on("packet", (p) => this.history.push(`${at()} < ${p.type} ${String(p.data ?? "").slice(0, 40)}`));
        engine.on("packetCreate", (p) => this.history.push(`${at()} > ${p.type} ${String(p.data ?? "").slice(0, 40)}`));
        engine.on("close", (reason, desc) => this.history.push(`${at()} engine close: ${reason} ${JSON.stringify(desc?.message ?? desc?.description ?? desc)}`));
        engine.on("upgrade", (t) => this.history.push(`${at()} upgrade ${t.name}`));
      };
      socket.io.on("open", () => trace(socket.io.engine));
    }
    socket.onAny((event, ...args) => {
      // With connection state recovery the server appends its offset
      // ("<node tag>.<n>", the tag of the pid) to every broadcast event.
      // rec.args holds the arguments the sender emitted, rec.offset the offset.
      let offset;
      const last = args[args.length - 1];
      if (socket._pid && typeof last === "string" && last.startsWith(socket._pid.split(".")[0] + ".")) offset = args.pop();
      const rec = { event, args, offset, data: args[0], at: Date.now(), taken: false };
      this.all.push(rec);
      for (const w of this.waiters) w(rec);
    });
  }

  // of returns the data of every event named event received so far.
  of(event) {
    return this.all.filter((r) => r.event === event).map((r) => r.data);
  }

  // take resolves with the data of the first not yet taken event named
  // event (and matching where), waiting up to ms for it.
  take(event, { where = () => true, ms = 10000 } = {}) {
    const found = this.all.find((r) => !r.taken && r.event === event && where(r.data));
    if (found) {
      found.taken = true;
      return Promise.resolve(found.data);
    }
    return new Promise((resolve, reject) => {
      const w = (rec) => {
        if (!rec.taken && rec.event === event && where(rec.data)) {
          rec.taken = true;
          this.waiters.delete(w);
          clearTimeout(timer);
          resolve(rec.data);
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`timed out after ${ms}ms waiting for "${event}"; received: ${this.summary()}`));
      }, ms);
      this.waiters.add(w);
    });
  }

  // takeThrough is take, and also marks as taken every earlier event of
  // the same name: for state events such as counts, where only the latest
  // matters.
  async takeThrough(event, opts) {
    const data = await this.take(event, opts);
    const i = this.all.findIndex((r) => r.data === data && r.event === event);
    this.all.slice(0, i).forEach((r) => r.event === event && (r.taken = true));
    return data;
  }

  // none resolves after ms if no event named event (matching where) arrived
  // meanwhile or earlier untaken, and rejects at once when one does.
  none(event, ms = 500, where = () => true) {
    const early = this.all.find((r) => !r.taken && r.event === event && where(r.data));
    if (early) return Promise.reject(new Error(`unexpected "${event}": ${JSON.stringify(early.args)}`));
    return new Promise((resolve, reject) => {
      const w = (rec) => {
        if (rec.event === event && where(rec.data)) {
          this.waiters.delete(w);
          clearTimeout(timer);
          reject(new Error(`unexpected "${event}": ${JSON.stringify(rec.args)}`));
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        resolve();
      }, ms);
      this.waiters.add(w);
    });
  }

  // names returns the event names received so far, in order.
  names() {
    return this.all.map((r) => r.event);
  }

  summary() {
    const events = JSON.stringify(this.all.map((r) => [r.event, r.data])).slice(0, 3000);
    return `${events}; connection: ${JSON.stringify(this.history)}, connected=${this.socket.connected}`;
  }
}

// open creates a client socket for server with its own Manager and no
// reconnection unless extra asks for it; it is closed when the test t
// ends. s.inbox records everything it receives.
export function open(t, server, mode, extra = {}) {
  const o = { forceNew: true, reconnection: false, ...extra };
  if (mode?.transports && !extra.transports) o.transports = mode.transports;
  const s = io(server.url, o);
  s.inbox = new Inbox(s);
  t.after(() => s.disconnect());
  return s;
}

// connect opens a socket with auth {token: jwt, ...auth}, waits until it
// is connected, authenticated and on mode's final transport, and returns
// it with its authenticated payload in s.hello.
export async function connect(t, server, mode, jwt, { auth = {}, ...extra } = {}) {
  const s = open(t, server, mode, { auth: { token: jwt, ...auth }, ...extra });
  await connected(s, mode);
  s.hello = await s.inbox.take("authenticated");
  return s;
}

// connected resolves once s is connected and on mode's final transport,
// and rejects on connect_error.
export async function connected(s, mode) {
  if (!s.connected) {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no connect within 10s")), 10000);
      s.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
      s.once("connect_error", (err) => {
        clearTimeout(timer);
        reject(new Error(`connect_error: ${err.message} ${JSON.stringify(err.data)}`, { cause: err }));
      });
    });
  }
  if (mode) await upgraded(s.io.engine, mode);
  return s;
}

// upgraded waits until engine is on mode.final: in default mode the
// connection starts on polling and must be upgraded to websocket.
export async function upgraded(engine, mode) {
  if (engine.transport.name !== mode.final) {
    assert.equal(mode.transports, undefined, `transport ${engine.transport.name}, want ${mode.final}`);
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no upgrade within 10s")), 10000);
      engine.once("upgrade", () => {
        clearTimeout(timer);
        resolve();
      });
      engine.once("upgradeError", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }
  assert.equal(engine.transport.name, mode.final, "transport in use");
}

// connectError opens a socket with the given options and resolves with
// its connect_error; it fails if the socket connects instead.
export function connectError(t, server, mode, extra) {
  const s = open(t, server, mode, extra);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no connect_error within 10s")), 10000);
    s.once("connect", () => reject(new Error("connected, want connect_error")));
    s.once("connect_error", (err) => {
      clearTimeout(timer);
      resolve({ err, socket: s });
    });
  });
}

// ack emits event with args and resolves with the server's first ack argument.
export function ack(s, event, ...args) {
  return new Promise((resolve, reject) => {
    s.timeout(10000).emit(event, ...args, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

// once resolves with the first argument of the next emission of event on
// emitter (a socket, manager or engine), or rejects after ms.
export function once(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`timed out after ${ms}ms waiting for "${event}"`));
    }, ms);
    function on(arg) {
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(arg);
    }
    emitter.on(event, on);
  });
}

// rawManager opens a bare Engine.IO connection through socket.io-client's
// Manager, with no Socket.IO socket on it, so that a test can write
// Socket.IO packets itself and see every packet the server sends
// (manager.packets, decoded by the client's own parser).
export async function rawManager(t, server, mode) {
  const m = new Manager(server.url, { autoConnect: false, reconnection: false, transports: mode.transports });
  m.packets = [];
  m.on("packet", (p) => m.packets.push(p));
  await new Promise((resolve, reject) => m.open((err) => (err ? reject(err) : resolve())));
  t.after(() => m.engine?.close());
  return m;
}

export const delay = (ms) => new Promise((r) => setTimeout(r, ms));

// waitFor polls fn until it returns without throwing, for up to ms.
export async function waitFor(fn, ms = 5000, every = 50) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await delay(every);
    }
  }
}

// ---------------------------------------------------------------- shapes

// assertTimestamp checks an ISO-8601 timestamp (toISOString form) close to now.
export function assertTimestamp(ts, what = "timestamp") {
  assert.match(String(ts), ISO, `${what} ${ts} is not an ISO-8601 UTC time with milliseconds`);
  assert.ok(Math.abs(Date.parse(ts) - Date.now()) < 30000, `${what} ${ts} is not close to now`);
}

// assertKeys checks that obj has exactly the keys given.
export function assertKeys(obj, keys, what = "payload") {
  assert.equal(typeof obj, "object", `${what} is an object`);
  assert.deepEqual(Object.keys(obj).sort(), [...keys].sort(), `keys of ${what}: ${JSON.stringify(obj)}`);
}

// assertPayload checks an event payload: exactly the fields of want plus
// an ISO timestamp.
export function assertPayload(data, want, what = "payload") {
  assertKeys(data, [...Object.keys(want), "timestamp"], what);
  assertTimestamp(data.timestamp, `${what}.timestamp`);
  const { timestamp, ...rest } = data;
  assert.deepEqual(rest, want, what);
}

const NOTIFICATION_KEYS = ["id", "userId", "tenantId", "seq", "type", "title", "message", "data", "status", "createdAt", "readAt", "seenAt", "expiresAt"];

// assertNotification checks the JSON form of a notification (DESIGN §5).
export function assertNotification(n, want = {}) {
  const keys = [...NOTIFICATION_KEYS];
  if ("groupKey" in n) keys.push("groupKey");
  assertKeys(n, keys, "notification");
  assert.equal(typeof n.id, "string");
  assert.ok(n.id.length > 0);
  assert.ok(Number.isInteger(n.seq) && n.seq > 0, `seq ${n.seq}`);
  assert.ok(n.status === "unread" || n.status === "read", `status ${n.status}`);
  assert.match(n.createdAt, ISO);
  if (n.readAt !== null) assert.match(n.readAt, ISO);
  if (n.seenAt !== null) assert.match(n.seenAt, ISO);
  for (const [k, v] of Object.entries(want)) assert.deepEqual(n[k], v, `notification.${k}`);
}

// assertNew checks a notification:new payload carrying exactly the
// notification n (as the API returned it).
export function assertNew(data, n) {
  assertKeys(data, ["notification", "timestamp"], "notification:new");
  assertTimestamp(data.timestamp);
  assertNotification(data.notification);
  assert.deepEqual(data.notification, n, "notification:new carries the stored notification");
}

// assertFailure checks a failed ack {success: false, error: {code, message}}.
export function assertFailure(res, code) {
  assertKeys(res, ["success", "error"], "ack");
  assert.equal(res.success, false);
  assertKeys(res.error, ["code", "message"], "ack.error");
  assert.equal(res.error.code, code, `ack error ${JSON.stringify(res.error)}`);
  assert.ok(res.error.message.length > 0);
}
