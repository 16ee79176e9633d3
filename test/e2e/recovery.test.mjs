// Connection state recovery (issue 12): a client whose transport dropped
// comes back within --recovery-window with the pid and last offset the
// official client keeps, and gets its socket id, its rooms, its presence
// watches and every event it missed (notifications, emits, data:updated,
// presence), once each and in order, with socket.recovered === true and no
// seq replay on top. Past the window, or with another user's token, it
// connects normally and the seq replay (auth.since) applies.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { POLLING, WEBSOCKET, ack, api, assertNew, connect, connected, delay, open, startHerald, token, uid, waitFor } from "./harness.mjs";

const GRACE_MS = 300;

let server, short;
before(async () => {
  [server, short] = await Promise.all([
    startHerald({ flags: ["--presence-grace", `${GRACE_MS}ms`] }),
    startHerald({ flags: ["--recovery-window", "1s"] }),
  ]);
});

// opener returns a socket that connects with {token, since} where since is
// the last seq it got, as the seed's client does, and that does not
// reconnect by itself: the test reconnects it with s.connect().
function opener(t, srv, mode, jwt) {
  const s = open(t, srv, mode, {
    auth: (cb) => cb({ token: jwt, since: Math.max(0, ...s.inbox.of("notification:new").map((d) => d.notification.seq)) }),
  });
  return s;
}

// drop closes the client's transport (no DISCONNECT packet: the server sees
// a transport close) and waits until the socket knows.
async function drop(s) {
  const gone = new Promise((resolve) => s.once("disconnect", resolve));
  s.io.engine.close();
  await gone;
}

// reconnect connects s again and waits for its authenticated greeting.
async function reconnect(s, mode) {
  s.inbox.history.push("reconnect");
  const was = s.inbox.all.length;
  s.connect();
  await connected(s, mode);
  await waitFor(() => assert.ok(s.inbox.all.slice(was).some((r) => r.event === "authenticated"), "authenticated after reconnect"));
}

const seqs = (s) => s.inbox.of("notification:new").map((d) => d.notification.seq);
const named = (s, event, where = () => true) => s.inbox.all.filter((r) => r.event === event && where(r.data));

const presenceOf = async (tenant, user) => (await api(server, "GET", `/v1/users/${user}/presence?tenantId=${tenant}`)).body;

async function metric(srv, name) {
  const text = await (await fetch(srv.url + "/metrics")).text();
  const line = text.split("\n").find((l) => l.startsWith(name + " ") || l.startsWith(name + "{"));
  return line ? Number(line.split(" ").pop()) : NaN;
}

describe("connection state recovery", { concurrency: true, timeout: 30000 }, () => {
  for (const mode of [WEBSOCKET, POLLING]) {
    it(`a dropped client gets its id, rooms, watches and every missed event once, in order (${mode.name})`, async (t) => {
      const tenant = uid("tenant");
      const user = uid("user");
      const peer = uid("peer");
      const jwt = token(user, { tenant });
      const s = opener(t, server, mode, jwt);
      await connected(s, mode);
      await s.inbox.take("authenticated");
      assert.equal(s.recovered, false, "a first connection is not recovered");
      assert.deepEqual(await ack(s, "presence:subscribe", { userIds: [peer] }), { success: true, online: [] });
      const n1 = await notify(tenant, user, "before");
      assertNew(await s.inbox.take("notification:new"), n1);
      const id = s.id;

      await drop(s);
      // While it is down: notifications, an emit, data:updated, and the
      // watched peer coming online.
      await waitFor(async () => assert.equal((await metric(server, "herald_recovery_sessions")) >= 1, true));
      // A parked session does not keep its user online past the grace.
      await waitFor(async () => assert.deepEqual(await presenceOf(tenant, user), { userId: user, online: false, sockets: 0 }), GRACE_MS + 5000);
      const missed = [await notify(tenant, user, "m1"), await notify(tenant, user, "m2")];
      assert.equal((await api(server, "POST", "/v1/emit", { tenantId: tenant, userId: user, event: "custom:ping", data: { k: 1 } })).status, 202);
      assert.equal((await api(server, "POST", "/v1/emit", { tenantId: tenant, userId: user, event: "data:updated", data: { type: "order", data: { id: 7 } } })).status, 202);
      const peerSocket = await connect(t, server, mode, token(peer, { tenant }));
      missed.push(await notify(tenant, user, "m3"));

      await reconnect(s, mode);
      assert.equal(s.recovered, true, `recovered; ${s.inbox.summary()}`);
      assert.equal(s.id, id, "same socket id");
      await waitFor(async () => assert.deepEqual(await presenceOf(tenant, user), { userId: user, online: true, sockets: 1 }));
      await waitFor(() => assert.deepEqual(seqs(s), [n1.seq, ...missed.map((n) => n.seq)]));
      const after = s.inbox.all.slice(s.inbox.all.findIndex((r) => r.data?.notification?.seq === n1.seq) + 1);
      const order = after.filter((r) => ["notification:new", "custom:ping", "data:updated", "user:online"].includes(r.event)).map((r) => r.event);
      assert.deepEqual(order, ["notification:new", "notification:new", "custom:ping", "data:updated", "user:online", "notification:new"], "missed events in order");
      for (const [i, n] of missed.entries()) assertNew(s.inbox.of("notification:new")[i + 1], n);
      assert.deepEqual(named(s, "custom:ping").map((r) => r.data.k), [1]);
      assert.deepEqual(named(s, "data:updated").map((r) => r.data.data), [{ id: 7 }]);
      assert.equal(named(s, "user:online", (d) => d.userId === peer).length, 1, "user:online once");

      // No seq replay on top (auth.since was n1's seq: the replay would
      // repeat m1..m3), and the rooms and watch are live again.
      await delay(300);
      assert.deepEqual(seqs(s), [n1.seq, ...missed.map((n) => n.seq)], "no duplicates from a seq replay");
      const live = await notify(tenant, user, "live");
      assertNew(await s.inbox.take("notification:new", { where: (d) => d.notification.seq === live.seq }), live);
      peerSocket.disconnect();
      await s.inbox.take("user:offline", { where: (d) => d.userId === peer, ms: GRACE_MS + 5000 });
      assert.ok((await metric(server, "herald_recovery_succeeded_total")) >= 1, "recoveries counted");
    });
  }

  it("events sent right before the drop are delivered once, in order", async (t) => {
    const tenant = uid("tenant");
    const user = uid("inflight");
    const s = opener(t, server, WEBSOCKET, token(user, { tenant }));
    await connected(s, WEBSOCKET);
    await s.inbox.take("authenticated");
    const emit = (i) => api(server, "POST", "/v1/emit", { tenantId: tenant, userId: user, event: "tick", data: { i } });
    assert.equal((await emit(0)).status, 202);
    await s.inbox.take("tick");
    // These are on the wire or in the client's buffers when it closes:
    // what the client has not handled when it drops is missed.
    const sent = await Promise.all([1, 2, 3, 4, 5].map(emit));
    assert.ok(sent.every((r) => r.status === 202));
    s.io.engine.close();
    for (let i = 6; i <= 10; i++) assert.equal((await emit(i)).status, 202);
    await reconnect(s, WEBSOCKET);
    assert.equal(s.recovered, true, s.inbox.summary());
    await waitFor(() => assert.equal(named(s, "tick").length, 11));
    await delay(200);
    const got = named(s, "tick").map((r) => r.data.i);
    assert.deepEqual(got.slice(0, 1), [0]);
    assert.deepEqual([...got].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], `each once: ${got}`);
    assert.deepEqual(got.slice(6), [6, 7, 8, 9, 10], "sent while down: in order");
  });

  it("past the window the client connects anew and the seq replay delivers the notifications", async (t) => {
    const tenant = uid("tenant");
    const user = uid("late");
    const s = opener(t, short, WEBSOCKET, token(user, { tenant }));
    await connected(s, WEBSOCKET);
    await s.inbox.take("authenticated");
    const n1 = await notify(tenant, user, "one", short);
    assertNew(await s.inbox.take("notification:new"), n1);
    const id = s.id;
    await drop(s);
    const n2 = await notify(tenant, user, "two", short);
    assert.equal((await api(short, "POST", "/v1/emit", { tenantId: tenant, userId: user, event: "data:updated", data: { type: "x", data: 1 } })).status, 202);
    await delay(1800);
    await reconnect(s, WEBSOCKET);
    assert.equal(s.recovered, false, "not recovered past the window");
    assert.notEqual(s.id, id, "a new socket id");
    await waitFor(() => assert.deepEqual(seqs(s), [n1.seq, n2.seq]));
    assertNew(s.inbox.of("notification:new")[1], n2);
    assert.equal(named(s, "data:updated").length, 0, "emits are not replayed by seq");
    assert.ok((await metric(short, 'herald_recovery_failed_total{reason="no_session"}')) >= 1, "failure counted by reason");
  });

  it("a pid of another node is refused at once: a normal connect and the seq replay", async (t) => {
    const tenant = uid("tenant");
    const user = uid("moved");
    const jwt = token(user, { tenant });
    const s = opener(t, server, WEBSOCKET, jwt);
    await connected(s, WEBSOCKET);
    await s.inbox.take("authenticated");
    await notify(tenant, user, "on A");
    await s.inbox.take("notification:new");
    await drop(s);
    const n = await notify(tenant, user, "on B", short);
    const b = open(t, short, WEBSOCKET, { auth: { token: jwt, pid: s._pid, offset: s._lastOffset, since: 0 } });
    await connected(b, WEBSOCKET);
    await b.inbox.take("authenticated");
    assert.notEqual(b.id, s.id, "no recovery on another node");
    assertNew(await b.inbox.take("notification:new"), n);
    assert.ok((await metric(short, 'herald_recovery_failed_total{reason="other_node"}')) >= 1, "counted as other_node");
  });

  it("another user's token with a stolen pid and offset does not recover; the owner still does", async (t) => {
    const tenant = uid("tenant");
    const victim = uid("victim");
    const s = opener(t, server, WEBSOCKET, token(victim, { tenant }));
    await connected(s, WEBSOCKET);
    await s.inbox.take("authenticated");
    const n1 = await notify(tenant, victim, "one");
    await s.inbox.take("notification:new");
    const id = s.id;
    assert.ok(s._pid && s._lastOffset, "the client keeps a pid and an offset");
    await drop(s);
    const n2 = await notify(tenant, victim, "secret");

    for (const jwt of [token(uid("thief"), { tenant }), token(victim, { tenant: uid("other") })]) {
      const thief = open(t, server, WEBSOCKET, { auth: { token: jwt, pid: s._pid, offset: s._lastOffset } });
      await connected(thief, WEBSOCKET);
      await thief.inbox.take("authenticated");
      assert.notEqual(thief.id, id, "the thief does not get the victim's socket id");
      await delay(200);
      assert.deepEqual(thief.inbox.of("notification:new"), [], "the thief gets none of the victim's events");
      thief.disconnect();
    }
    const forged = open(t, server, WEBSOCKET, { auth: { token: token(victim, { tenant }), pid: s._pid.slice(0, -2) + "AA", offset: s._lastOffset } });
    await connected(forged, WEBSOCKET);
    assert.notEqual(forged.id, id, "a forged pid recovers nothing");
    forged.disconnect();

    await reconnect(s, WEBSOCKET);
    assert.equal(s.recovered, true, s.inbox.summary());
    assert.equal(s.id, id);
    await waitFor(() => assert.deepEqual(seqs(s), [n1.seq, n2.seq]));
  });
});

// notify creates a notification for user of tenant through the API.
async function notify(tenant, user, title, srv = server) {
  const res = await api(srv, "POST", "/v1/notifications", { tenantId: tenant, userId: user, type: "info", title, message: "m" });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.notifications[0];
}
