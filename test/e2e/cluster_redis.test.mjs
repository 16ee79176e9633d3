// Cluster mode: three herald nodes on one PostgreSQL and one Redis (a
// redis-server of this file's own, on a free port, so that it can be
// stopped and started again). Run by TestE2ECluster, which hands over
// redis-server's path; the other runs of the suite skip this file.
//
// The tests run in order on the same cluster: node A dies (kill -9) in the
// fourth, Redis restarts in the fifth.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WEBSOCKET, api, connect, notify, startHerald, tempDB, token, uid, waitFor } from "./harness.mjs";
import { REDIS_SERVER, freePort, startRedis } from "./redis.mjs";

const LEASE_MS = 1500; // --cluster-lease: a dead node is gone within ~4/3 of it
const BOUND_MS = 4 * LEASE_MS; // what "within the lease bound" waits for, with slack

// metric reads one unlabelled counter of a node's /metrics.
async function metric(node, name) {
  const res = await fetch(node.url + "/metrics");
  const text = await res.text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

// until polls fn until it returns something truthy, for up to ms.
const until = (fn, ms) => waitFor(async () => assert.ok(await fn(), "condition not met in time"), ms);

const seqsOf = (s) => s.inbox.of("notification:new").map((d) => d.notification.seq);

describe("cluster mode over Redis", { skip: REDIS_SERVER ? false : "needs HERALD_E2E_REDIS_SERVER (TestE2ECluster)", timeout: 90000 }, () => {
  let redis, redisPort, A, B, C;
  before(async () => {
    redisPort = await freePort();
    redis = await startRedis(redisPort);
    const db = tempDB();
    const flags = ["--redis-url", `redis://127.0.0.1:${redisPort}/0`, "--cluster-lease", `${LEASE_MS}ms`, "--presence-grace", "300ms", "--handshake-rate", "0", "--max-unauthenticated-per-ip", "0"];
    [A, B, C] = await Promise.all([0, 1, 2].map(() => startHerald({ db, flags })));
  });
  after(async () => {
    await Promise.all([A, B, C].map((n) => n?.stop()));
    await redis?.stop();
  });

  it("GET /v1/nodes lists the three nodes; /readyz is ready", async () => {
    await until(async () => (await api(A, "GET", "/v1/nodes")).body.nodes.length === 3, BOUND_MS);
    const { body } = await api(B, "GET", "/v1/nodes");
    assert.deepEqual(body.nodes.map((n) => n.addr).sort(), [A, B, C].map((n) => n.url.slice("http://".length)).sort());
    const ready = await fetch(A.url + "/readyz");
    assert.equal(ready.status, 200);
    assert.match(await ready.text(), /^ready/);
  });

  it("a client on node A receives what node B's API creates, in seq order; stats and presence agree across nodes", async (t) => {
    const user = uid("a");
    const s = await connect(t, A, WEBSOCKET, token(user));
    const want = [];
    for (let i = 0; i < 10; i++) want.push((await notify(B, user, { title: `n${i}` })).seq);
    await until(() => seqsOf(s).length >= 10, 10000);
    assert.deepEqual(seqsOf(s), want, "every notification once, in seq order");
    assert.deepEqual(want, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // Every node's API sees the user and the socket.
    for (const node of [A, B, C]) {
      const p = await api(node, "GET", `/v1/users/${user}/presence`);
      assert.deepEqual(p.body, { userId: user, online: true, sockets: 1 });
      const q = await api(node, "POST", "/v1/presence/query", { userIds: [user, uid("nobody")] });
      assert.deepEqual(q.body, { online: [user] });
    }
    await until(async () => {
      const all = await Promise.all([A, B, C].map((n) => api(n, "GET", "/v1/stats")));
      return all.every((r) => r.body.sockets === 1 && r.body.connectedUsers === 1 && r.body.nodes === 3);
    }, BOUND_MS);
    await until(async () => {
      const { body } = await api(C, "GET", "/v1/nodes");
      const a = body.nodes.find((n) => n.addr === A.url.slice("http://".length));
      return a && a.sockets === 1 && a.users === 1;
    }, BOUND_MS);
  });

  it("a watcher on node C sees a user of node A go online and offline once each", async (t) => {
    const watched = uid("w");
    const watcher = await connect(t, C, WEBSOCKET, token(uid("watcher")));
    const res = await new Promise((resolve) => watcher.emit("presence:subscribe", { userIds: [watched] }, resolve));
    assert.deepEqual(res, { success: true, online: [] });
    const s = await connect(t, A, WEBSOCKET, token(watched));
    assert.equal((await watcher.inbox.take("user:online")).userId, watched);
    s.disconnect();
    assert.equal((await watcher.inbox.take("user:offline")).userId, watched);
    await watcher.inbox.none("user:online", 800);
    assert.equal(watcher.inbox.of("user:online").length, 1);
    assert.equal(watcher.inbox.of("user:offline").length, 1);
  });

  it("a targeted emit to a user of node A raises herald_cluster_messages_received_total on node A only", async (t) => {
    const user = uid("m");
    const s = await connect(t, A, WEBSOCKET, token(user));
    const name = "herald_cluster_messages_received_total";
    const before = await Promise.all([A, B, C].map((n) => metric(n, name)));
    const pubBefore = await metric(B, "herald_cluster_messages_published_total");
    for (let i = 0; i < 5; i++) {
      const r = await api(B, "POST", "/v1/emit", { userId: user, event: "test:ping", data: { i } });
      assert.equal(r.status, 202);
    }
    await until(() => s.inbox.of("test:ping").length === 5, 5000);
    const after = await Promise.all([A, B, C].map((n) => metric(n, name)));
    assert.equal(after[0] - before[0], 5, "node A received each emit once");
    assert.equal(after[1], before[1], "node B received nothing");
    assert.equal(after[2], before[2], "node C received nothing");
    assert.equal((await metric(B, "herald_cluster_messages_published_total")) - pubBefore, 5, "one publish per emit");
  });

  it("kill -9 of node A with 100 clients: they reconnect to node C with auth.since and get every created notification exactly once; A's other user goes offline, A leaves /v1/nodes", async (t) => {
    const users = Array.from({ length: 20 }, () => uid("k"));
    const clients = [];
    for (const user of users) {
      for (let i = 0; i < 5; i++) clients.push({ user, got: [], socket: null });
    }
    const attach = (c, s, where) => {
      c.socket = s;
      c.trace = (c.trace ?? "") + ` ${where}:[${c.got}]`;
      for (const d of s.inbox.of("notification:new")) c.got.push(d.notification.seq);
      s.on("notification:new", (d) => c.got.push(d.notification.seq));
    };
    await Promise.all(clients.map(async (c) => attach(c, await connect(t, A, WEBSOCKET, token(c.user)), "A")));
    // A user of node A only, whom a socket on node B watches.
    const lonely = uid("lonely");
    await connect(t, A, WEBSOCKET, token(lonely));
    const watcher = await connect(t, B, WEBSOCKET, token(uid("watcher")));
    assert.deepEqual(await new Promise((resolve) => watcher.emit("presence:subscribe", { userIds: [lonely] }, resolve)), { success: true, online: [lonely] });
    const created = new Map(users.map((u) => [u, []]));
    let creating = true;
    const creator = (async () => {
      for (let i = 0; creating || i < 40; i++) {
        const user = users[i % users.length];
        const res = await api(B, "POST", "/v1/notifications", { userId: user, type: "k", title: `k${i}`, message: "m" });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        created.get(user).push(res.body.notifications[0].seq);
      }
    })();
    await until(() => [...created.values()].flat().length >= 20, 10000);
    await A.stop("SIGKILL");
    const killedAt = Date.now();
    // Each client notices and reconnects to C with the last seq it got.
    await Promise.all(
      clients.map(async (c) => {
        await until(() => !c.socket.connected, 15000);
        c.socket.removeAllListeners("notification:new");
        const since = c.got.length ? Math.max(...c.got) : 0;
        attach(c, await connect(t, C, WEBSOCKET, token(c.user), { auth: { since } }), "C");
      }),
    );
    creating = false;
    await creator;
    for (const c of clients) {
      const want = created.get(c.user);
      await until(() => c.got.length >= want.length, 10000).catch(() => {});
      assert.deepEqual(c.got, [...want].sort((a, b) => a - b), `${c.user}: every created notification once, in order; ${c.trace}`);
    }
    await until(async () => (await api(B, "GET", "/v1/nodes")).body.nodes.length === 2, BOUND_MS);
    t.diagnostic(`node A left /v1/nodes ${Date.now() - killedAt} ms after kill -9 (lease ${LEASE_MS} ms)`);
    assert.equal((await watcher.inbox.take("user:offline", { ms: BOUND_MS })).userId, lonely, "a dead node's user goes offline");
    t.diagnostic(`its user went offline ${Date.now() - killedAt} ms after kill -9`);
    assert.equal(watcher.inbox.of("user:offline").length, 1);
    await until(async () => {
      const all = await Promise.all([B, C].map((n) => api(n, "GET", "/v1/stats")));
      // The 100 clients on C, and the watcher on B; the lonely user is gone.
      return all.every((r) => r.body.sockets === 101 && r.body.connectedUsers === 21 && r.body.nodes === 2);
    }, BOUND_MS);
  });

  it("Redis restarted mid-traffic: /readyz degraded meanwhile, no stored notification lost, all delivered once after it returns", async (t) => {
    const user = uid("r");
    const s = await connect(t, C, WEBSOCKET, token(user), { auth: { since: 0 } });
    const want = [];
    for (let i = 0; i < 5; i++) want.push((await notify(B, user, { title: `before ${i}` })).seq);
    await until(() => seqsOf(s).length === 5, 5000);
    await redis.stop();
    await until(async () => /^degraded: /.test(await (await fetch(B.url + "/readyz")).text()), 10000);
    const degraded = await fetch(C.url + "/readyz");
    assert.equal(degraded.status, 200, "a degraded node stays in the load balancer");
    for (let i = 0; i < 10; i++) want.push((await notify(B, user, { title: `during ${i}` })).seq);
    redis = await startRedis(redisPort);
    // Nothing new is created: what C's socket missed comes from C's
    // position check after its resync.
    await until(() => seqsOf(s).length >= 15, 20000);
    assert.deepEqual(seqsOf(s), want, "the 10 created while Redis was down, once, in order");
    for (let i = 0; i < 5; i++) want.push((await notify(B, user, { title: `after ${i}` })).seq);
    await until(() => seqsOf(s).length >= 20, 20000);
    assert.deepEqual(seqsOf(s), want, "all 20 once, in seq order");
    assert.deepEqual(want, Array.from({ length: 20 }, (_, i) => i + 1));
    await until(async () => /^ready/.test(await (await fetch(B.url + "/readyz")).text()), 10000);
  });
});
