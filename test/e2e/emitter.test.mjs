// The standard socket.io Redis emitter (@socket.io/redis-emitter, the real
// npm package, over the real `redis` client) publishing to two herald
// nodes in cluster mode on one PostgreSQL and a Redis of this file's own
// (run by TestE2EEmitter, which hands over redis-server; the other runs
// skip this file). Keys: "socket.io" is the default tenant,
// "herald:acme" tenant acme, "herald:beta" tenant beta.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Emitter } from "@socket.io/redis-emitter";
import { encode } from "notepack.io";
import { createClient } from "redis";
import { PG, WEBSOCKET, DEFAULT, connect, delay, startHerald, tempDB, token, uid, waitFor } from "./harness.mjs";
import { REDIS_SERVER, freePort, startRedis } from "./redis.mjs";

const QUIET_MS = 400; // how long "nothing more arrives" waits

// metric reads herald_emitter_messages_total{result} of a node.
async function dropped(node, result) {
  const text = await (await fetch(node.url + "/metrics")).text();
  const m = new RegExp(`^herald_emitter_messages_total\\{result="${result}"\\} (\\S+)$`, "m").exec(text);
  assert.ok(m, `herald_emitter_messages_total{result="${result}"} in /metrics`);
  return Number(m[1]);
}

// got returns the args of every `event` a socket received.
const got = (s, event) => s.inbox.all.filter((r) => r.event === event).map((r) => r.args);

describe("socket.io Redis emitter", { skip: REDIS_SERVER && PG ? false : "needs HERALD_E2E_REDIS_SERVER and PostgreSQL (TestE2EEmitter)", timeout: 90000 }, () => {
  let redis, redisPort, client, A, B, plain, acme, beta;
  before(async () => {
    redisPort = await freePort();
    redis = await startRedis(redisPort);
    const db = tempDB();
    const flags = ["--redis-url", `redis://127.0.0.1:${redisPort}/0`, "--redis-emitter-key", "socket.io,herald:acme=acme",
      "--redis-emitter-key", "herald:beta=beta", "--handshake-rate", "0", "--max-unauthenticated-per-ip", "0"];
    [A, B] = await Promise.all([0, 1].map(() => startHerald({ db, flags })));
    client = createClient({ url: `redis://127.0.0.1:${redisPort}`, socket: { reconnectStrategy: () => 100 } });
    client.on("error", () => {}); // the Redis restart below
    await client.connect();
    plain = new Emitter(client);
    acme = new Emitter(client, { key: "herald:acme" });
    beta = new Emitter(client, { key: "herald:beta" });
  });
  after(async () => {
    await client?.quit().catch(() => {});
    await Promise.all([A, B].map((n) => n?.stop()));
    await redis?.stop();
  });

  it("to('user:42').emit reaches each of the user's sockets on both nodes once, nobody else", async (t) => {
    const u = uid("u"), other = uid("o");
    const [a1, a2, b1] = await Promise.all([
      connect(t, A, WEBSOCKET, token(u)), connect(t, A, DEFAULT, token(u)), connect(t, B, WEBSOCKET, token(u))]);
    const o = await connect(t, B, WEBSOCKET, token(other));
    const sameIdOtherTenant = await connect(t, A, WEBSOCKET, token(u, { tenant: "acme" }));
    plain.to(`user:${u}`).emit("hello", { a: 1, nested: { list: [1, "two", null] } }, "x", 3);
    for (const s of [a1, a2, b1]) {
      assert.deepEqual((await s.inbox.take("hello")), { a: 1, nested: { list: [1, "two", null] } });
    }
    await delay(QUIET_MS);
    for (const s of [a1, a2, b1]) assert.deepEqual(got(s, "hello"), [[{ a: 1, nested: { list: [1, "two", null] } }, "x", 3]], "exactly once, every argument");
    assert.deepEqual(got(o, "hello"), []);
    assert.deepEqual(got(sameIdOtherTenant, "hello"), [], "the default tenant's key never reaches tenant acme");
  });

  it("emit to all reaches every socket of the key's tenant on both nodes, no other tenant", async (t) => {
    const [x, y, dflt, b] = await Promise.all([
      connect(t, A, WEBSOCKET, token(uid("x"), { tenant: "acme" })), connect(t, B, WEBSOCKET, token(uid("y"), { tenant: "acme" })),
      connect(t, A, WEBSOCKET, token(uid("d"))), connect(t, B, WEBSOCKET, token(uid("b"), { tenant: "beta" }))]);
    const tag = uid("news");
    acme.emit("news", { tag });
    for (const s of [x, y]) assert.equal((await s.inbox.take("news", { where: (d) => d.tag === tag })).tag, tag);
    await delay(QUIET_MS);
    for (const s of [x, y]) assert.equal(got(s, "news").filter(([d]) => d.tag === tag).length, 1);
    assert.deepEqual(got(dflt, "news"), [], "default tenant");
    assert.deepEqual(got(b, "news"), [], "tenant beta");
  });

  it("several rooms and except, as socket.io means them: each socket once", async (t) => {
    const [p, q, r] = [uid("p"), uid("q"), uid("r")];
    const [p1, p2, q1, r1] = await Promise.all([connect(t, A, WEBSOCKET, token(p)), connect(t, B, WEBSOCKET, token(p)),
      connect(t, B, WEBSOCKET, token(q)), connect(t, A, WEBSOCKET, token(r))]);
    plain.to([`user:${p}`, `user:${q}`, `user:${r}`]).to(`user:${p}`).except(`user:${q}`).emit("multi", 1);
    plain.to(`user:${r}`).emit("after", 1); // arrives after "multi" on r1: the quiet check below covers "multi"
    await r1.inbox.take("after");
    for (const s of [p1, p2, r1]) await s.inbox.take("multi");
    await delay(QUIET_MS);
    for (const s of [p1, p2, r1]) assert.equal(got(s, "multi").length, 1);
    assert.deepEqual(got(q1, "multi"), [], "excepted");
  });

  it("a socket's id is a room of its tenant's key only", async (t) => {
    const u = uid("sid");
    const [s1, s2, other] = await Promise.all([connect(t, A, WEBSOCKET, token(u)), connect(t, B, WEBSOCKET, token(u)), connect(t, B, WEBSOCKET, token(uid("x"), { tenant: "acme" }))]);
    plain.to(s2.id).emit("direct", 1);
    acme.to(s1.id).emit("direct", "acme"); // another tenant's socket: nothing
    plain.to(`user:${u}`).except(s1.id).emit("but", 1);
    acme.to(other.id).emit("direct", "own");
    assert.equal(await s2.inbox.take("direct"), 1);
    await s2.inbox.take("but");
    assert.equal(await other.inbox.take("direct"), "own");
    await delay(QUIET_MS);
    assert.deepEqual([got(s1, "direct"), got(s1, "but"), got(s2, "direct")], [[], [], [[1]]]);
  });

  it("binary arguments arrive as binary", async (t) => {
    const u = uid("bin");
    const s = await connect(t, B, WEBSOCKET, token(u));
    plain.to(`user:${u}`).emit("file", Buffer.from([1, 2, 3, 255]), { inner: Buffer.from("hé") }, new Date(Date.UTC(2026, 0, 2)));
    await s.inbox.take("file");
    const [buf, obj, date] = got(s, "file")[0];
    assert.deepEqual([...new Uint8Array(buf)], [1, 2, 3, 255]);
    assert.equal(Buffer.from(obj.inner).toString(), "hé");
    assert.equal(date, "2026-01-02T00:00:00.000Z");
  });

  it("socketsJoin then emit to that room; socketsLeave; a tenant's rooms are its own", async (t) => {
    const [u, v] = [uid("j"), uid("k")];
    const [u1, u2, v1] = await Promise.all([connect(t, A, WEBSOCKET, token(u, { tenant: "acme" })),
      connect(t, B, WEBSOCKET, token(u, { tenant: "acme" })), connect(t, B, WEBSOCKET, token(v, { tenant: "beta" }))]);
    const room = uid("team");
    acme.to(`user:${u}`).socketsJoin(room);
    beta.to(`user:${v}`).socketsJoin(room); // same name, tenant beta
    acme.to(room).emit("team", "one"); // published after the join: handled after it on every node
    for (const s of [u1, u2]) assert.deepEqual(await s.inbox.take("team"), "one");
    beta.to(room).emit("team", "beta");
    assert.equal(await v1.inbox.take("team"), "beta");
    await delay(QUIET_MS);
    assert.deepEqual(got(v1, "team"), [["beta"]], "acme's room is not beta's");
    for (const s of [u1, u2]) assert.deepEqual(got(s, "team"), [["one"]]);
    acme.in(room).socketsLeave(room);
    acme.to(room).emit("team", "two");
    acme.to(`user:${u}`).emit("marker", 1);
    for (const s of [u1, u2]) await s.inbox.take("marker");
    assert.deepEqual(got(u1, "team"), [["one"]], "left the room");
    // A user room is herald's: joining one is refused and counted.
    const before = await dropped(A, "refused_room");
    acme.to(`user:${v}`).socketsJoin(`user:${u}`);
    await waitFor(async () => assert.equal(await dropped(A, "refused_room"), before + 1));
  });

  it("disconnectSockets disconnects the selected sockets only", async (t) => {
    const [u, v] = [uid("d"), uid("e")];
    const [u1, u2, v1] = await Promise.all([connect(t, A, WEBSOCKET, token(u)), connect(t, B, DEFAULT, token(u)), connect(t, A, WEBSOCKET, token(v))]);
    const reasons = [u1, u2].map((s) => new Promise((resolve) => s.once("disconnect", resolve)));
    plain.to(`user:${u}`).disconnectSockets(true);
    assert.deepEqual(await Promise.all(reasons), ["io server disconnect", "io server disconnect"]);
    plain.to(`user:${v}`).emit("still", 1);
    await v1.inbox.take("still");
    assert.ok(v1.connected);
  });

  it("garbage, reserved events, other namespaces and oversized messages are counted and dropped; the next message is delivered", async (t) => {
    const u = uid("g");
    const s = await connect(t, A, WEBSOCKET, token(u));
    const results = ["malformed", "reserved_event", "other_namespace", "too_large", "unsupported"];
    const before = await Promise.all(results.map((r) => dropped(A, r)));
    await client.publish("socket.io#/#", "garbage");
    await client.publish("socket.io#/#", Buffer.from([0x93, 0xa1, 0x78, 0xdd, 0xff, 0xff, 0xff, 0xff]));
    await client.publish(`socket.io#/#user:${u}#`, encode(["x", { type: 2, data: ["connect", 1], nsp: "/" }, { rooms: [`user:${u}`], except: [], flags: {} }]));
    plain.of("/admin").emit("admin", 1);
    await client.publish(`socket.io#/#user:${u}#`, encode(["x", { type: 2, data: ["big", "x".repeat(1_100_000)], nsp: "/" }, { rooms: [`user:${u}`], except: [], flags: {} }]));
    plain.serverSideEmit("hello");
    await client.publish("socket.io-request#/#", "{not json");
    plain.to(`user:${u}`).emit("fine", 1);
    await s.inbox.take("fine");
    await waitFor(async () => {
      const now = await Promise.all(results.map((r) => dropped(A, r)));
      assert.deepEqual(now.map((n, i) => n - before[i]), [3, 1, 1, 1, 1]);
    });
    assert.deepEqual(s.inbox.names().filter((n) => !["authenticated", "notification:unread_count"].includes(n)), ["fine"]);
  });

  it("survives a Redis restart: subscribes again", async (t) => {
    const u = uid("r");
    const [a, b] = await Promise.all([connect(t, A, WEBSOCKET, token(u), { reconnection: true }), connect(t, B, WEBSOCKET, token(u), { reconnection: true })]);
    await redis.stop();
    await delay(300);
    redis = await startRedis(redisPort);
    let n = 0;
    await waitFor(async () => {
      plain.to(`user:${u}`).emit("back", ++n);
      await delay(100);
      assert.ok(got(a, "back").length > 0 && got(b, "back").length > 0, "delivered on both nodes");
    }, 20000, 200);
  });
});
