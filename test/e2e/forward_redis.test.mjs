// Long-polling without sticky sessions: three herald nodes in cluster mode
// with --advertise-addr, on one PostgreSQL and a Redis of this file's own.
// A request for a session of another node is forwarded to its owner. Run
// by TestE2EForward, which hands over redis-server's path; the other runs
// of the suite skip this file.
//
// The tests run in order on the same cluster: node A dies (kill -9) in the
// last one.
import assert from "node:assert/strict";
import { connect as tcpConnect, createServer } from "node:net";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { DEFAULT, POLLING, ack, api, connect, notify, startHerald, tempDB, token, uid, waitFor } from "./harness.mjs";
import { REDIS_SERVER, freePort, startRedis } from "./redis.mjs";

const LEASE_MS = 1500;
const UNKNOWN = { code: 1, message: "Session ID unknown" };
const SEP = "\x1e"; // Engine.IO's polling payload separator

// forwarded reads a node's herald_forwarded_requests_total{outcome}.
async function forwarded(node, outcome = "forwarded") {
  const text = await (await fetch(node.url + "/metrics")).text();
  const m = new RegExp(`^herald_forwarded_requests_total\\{outcome="${outcome}"\\} (\\S+)$`, "m").exec(text);
  assert.ok(m, `herald_forwarded_requests_total{outcome="${outcome}"} in /metrics of ${node.url}`);
  return Number(m[1]);
}

// RawPolling is an Engine.IO polling client written by hand, so that each
// request can go to the node the test picks.
class RawPolling {
  constructor() {
    this.packets = []; // every packet received, in order
    this.taken = 0;
  }
  url(node) {
    return `${node.url}/socket.io/?EIO=4&transport=polling${this.sid ? `&sid=${this.sid}` : ""}`;
  }
  async handshake(node) {
    const res = await fetch(this.url(node));
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.equal(text[0], "0", `open packet ${text}`);
    this.sid = JSON.parse(text.slice(1)).sid;
    return JSON.parse(text.slice(1));
  }
  async post(node, ...packets) {
    const res = await fetch(this.url(node), { method: "POST", body: packets.join(SEP), headers: { "Content-Type": "text/plain;charset=UTF-8" } });
    assert.equal(res.status, 200, `POST via ${node.url}`);
    assert.equal(await res.text(), "ok");
  }
  // get polls node once; pings are answered through post on the same node.
  async get(node) {
    const res = await fetch(this.url(node), { signal: AbortSignal.timeout(10000) });
    const text = await res.text();
    if (res.status !== 200) return { status: res.status, text };
    for (const p of text.split(SEP)) {
      if (p === "2") await this.post(node, "3");
      else this.packets.push(p);
    }
    return { status: 200, text };
  }
  // until polls the nodes in turn until a packet matching pred arrives,
  // and returns it.
  async until(nodes, pred, what) {
    for (let i = 0; i < 40; i++) {
      const j = this.packets.findIndex((p, k) => k >= this.taken && pred(p));
      if (j >= 0) {
        this.taken = j + 1;
        return this.packets[j];
      }
      const { status, text } = await this.get(nodes[i % nodes.length]);
      assert.equal(status, 200, `poll for ${what}: ${text}`);
    }
    assert.fail(`no ${what} in ${JSON.stringify(this.packets)}`);
  }
}

const event = (p) => (p.startsWith("42") ? JSON.parse(p.slice(2)) : null);

describe("polling without sticky sessions", { skip: REDIS_SERVER ? false : "needs HERALD_E2E_REDIS_SERVER (TestE2EForward)", timeout: 90000 }, () => {
  let redis, A, B, C;
  before(async () => {
    const redisPort = await freePort();
    redis = await startRedis(redisPort);
    const db = tempDB();
    const flags = ["--redis-url", `redis://127.0.0.1:${redisPort}/0`, "--cluster-lease", `${LEASE_MS}ms`, "--handshake-rate", "0", "--max-unauthenticated-per-ip", "0"];
    const ports = await Promise.all([0, 1, 2].map(() => freePort()));
    [A, B, C] = await Promise.all(ports.map((port) => startHerald({ db, port, flags: [...flags, "--advertise-addr", `127.0.0.1:${port}`] })));
    // Every node lists the three leases.
    await waitFor(async () => {
      for (const n of [A, B, C]) assert.equal((await api(n, "GET", "/v1/nodes")).body.nodes.length, 3);
    }, 4 * LEASE_MS);
  });
  after(async () => {
    await Promise.all([A, B, C].map((n) => n?.stop()));
    await redis?.stop();
  });

  it("a real socket.io-client behind a round-robin TCP proxy connects, receives, acks and upgrades", async (t) => {
    const nodes = [A, B, C];
    let next = 0;
    const pairs = new Set();
    const proxy = createServer((down) => {
      const node = nodes[next++ % nodes.length];
      const up = tcpConnect(node.port, "127.0.0.1");
      pairs.add(down);
      down.on("close", () => pairs.delete(down));
      down.pipe(up).pipe(down);
      const end = () => (down.destroy(), up.destroy());
      down.on("error", end);
      up.on("error", end);
      down.on("close", end);
      up.on("close", end);
    });
    await new Promise((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    t.after(() => {
      for (const c of pairs) c.destroy();
      proxy.close();
    });
    const front = { url: `http://127.0.0.1:${proxy.address().port}` };
    const before = (await Promise.all(nodes.map((n) => forwarded(n)))).reduce((a, b) => a + b, 0);

    for (const mode of [DEFAULT, POLLING]) {
      const clients = [];
      for (let i = 0; i < 3; i++) {
        const user = uid("rr");
        const s = await connect(t, front, mode, token(user));
        clients.push({ user, s });
      }
      for (const { user, s } of clients) {
        const n = await notify(C, user, { title: `through the proxy, ${mode.name}` });
        const got = await s.inbox.take("notification:new");
        assert.equal(got.notification.id, n.id);
        const list = await ack(s, "notification:list", {});
        assert.deepEqual(list.notifications.map((x) => x.id), [n.id]);
        assert.equal(s.io.engine.transport.name, mode.final);
        assert.deepEqual(s.inbox.history, [], `${mode.name}: no disconnect, no connect_error`);
      }
    }
    const after = (await Promise.all(nodes.map((n) => forwarded(n)))).reduce((a, b) => a + b, 0);
    assert.ok(after > before, `requests were forwarded (${before} → ${after})`);
    for (const n of nodes) assert.equal(await forwarded(n, "loop"), 0);
  });

  it("a raw polling client that shakes hands on A and alternates B and C exchanges events and acks, upgrades through B, and recovers when A dies", async (t) => {
    const user = uid("raw");
    const jwt = token(user);
    const c = new RawPolling();
    const open = await c.handshake(A);
    assert.deepEqual(open.upgrades, ["websocket"]);
    const fwdB = await forwarded(B), fwdC = await forwarded(C);

    // CONNECT with the token, through B; the answers through C and B.
    await c.post(B, "40" + JSON.stringify({ token: jwt }));
    assert.match(await c.until([C, B], (p) => p.startsWith("40"), "CONNECT ack"), /^40\{"sid":/);
    const hello = event(await c.until([C, B], (p) => event(p)?.[0] === "authenticated", "authenticated"));
    assert.equal(hello[1].userId, user);

    // An emit from the API (of C) arrives through the polls of B and C.
    const n1 = await notify(C, user, { title: "first" });
    const got = event(await c.until([B, C], (p) => event(p)?.[0] === "notification:new", "notification:new"));
    assert.equal(got[1].notification.id, n1.id);
    assert.equal(got[1].notification.seq, 1);

    // A client event with an ack: sent through C, answered through B.
    await c.post(C, '421["notification:list",{}]');
    const answer = await c.until([B, C], (p) => p.startsWith("431"), "ack 1");
    assert.deepEqual(JSON.parse(answer.slice(3))[0].notifications.map((x) => x.id), [n1.id]);
    assert.ok((await forwarded(B)) > fwdB && (await forwarded(C)) > fwdC, "B and C forwarded");

    // The upgrade to websocket through B, while a poll waits on C.
    const ws = new WebSocket(`ws://127.0.0.1:${B.port}/socket.io/?EIO=4&transport=websocket&sid=${c.sid}`);
    t.after(() => ws.terminate());
    const frames = [];
    const waiters = new Set();
    ws.on("message", (data) => {
      const f = data.toString();
      if (f === "2") return ws.send("3");
      frames.push(f);
      for (const w of waiters) w();
    });
    const frame = (pred, what) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const f = frames.find(pred);
          if (f !== undefined) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(f);
          }
        };
        const timer = setTimeout(() => (waiters.delete(check), reject(new Error(`no ${what} over the websocket: ${JSON.stringify(frames)}`))), 10000);
        waiters.add(check);
        check();
      });
    await new Promise((resolve, reject) => (ws.once("open", resolve), ws.once("error", reject)));
    const pending = c.get(C);
    ws.send("2probe");
    await frame((f) => f === "3probe", "3probe");
    // The waiting poll is ended with a noop (or a ping: then the next one).
    let { status, text } = await pending;
    for (let i = 0; status === 200 && !text.split(SEP).includes("6") && i < 3; i++) ({ status, text } = await c.get(C));
    assert.equal(status, 200);
    assert.ok(text.split(SEP).includes("6"), `a noop ends the waiting poll: ${text}`);
    ws.send("5");
    const n2 = await notify(B, user, { title: "over the websocket" });
    const live = JSON.parse((await frame((f) => f.startsWith("42") && JSON.parse(f.slice(2))[0] === "notification:new", "notification:new")).slice(2));
    assert.equal(live[1].notification.seq, n2.seq);
    ws.send('422["notification:list",{}]');
    const ack2 = JSON.parse((await frame((f) => f.startsWith("432"), "ack 2")).slice(3));
    assert.deepEqual(ack2[0].notifications.map((x) => x.id), [n2.id, n1.id]);

    // The owner dies: the next request for its session is answered as
    // socket.io answers an unknown session.
    const closed = new Promise((resolve) => ws.once("close", resolve));
    await A.stop("SIGKILL");
    await closed;
    for (const node of [B, C]) {
      const res = await fetch(c.url(node));
      assert.equal(res.status, 400);
      assert.deepEqual(await res.json(), UNKNOWN);
    }
    // A real client reconnects (to the nodes that are left) and replays by seq.
    const n3 = await notify(C, user, { title: "while away" });
    const s = await connect(t, B, DEFAULT, jwt, { auth: { since: n2.seq } });
    const replayed = await s.inbox.take("notification:new");
    assert.equal(replayed.notification.id, n3.id);
    assert.equal(replayed.notification.seq, n2.seq + 1);
  });
});
