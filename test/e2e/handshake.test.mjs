// The handshake of DESIGN §1 (the seed's WsJwtGuard and handleConnection):
// where the token comes from, the authenticated event, the user's room,
// every way a JWT can be refused, and the seed's frontend options unchanged.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { io } from "socket.io-client";
import {
  MODES, WEBSOCKET, api, assertKeys, assertNew, assertPayload, assertTimestamp, connect, connectError, nowSec,
  notify, once, open, rawManager, sign, startHerald, stats, token, uid, waitFor,
} from "./harness.mjs";

let server;
before(async () => {
  server = await startHerald();
});

// checkAuthenticated checks the seed's authenticated payload.
function checkAuthenticated(s, user, email = `${user}@example.com`) {
  assertKeys(s.hello, ["success", "userId", "email", "socketId", "timestamp"], "authenticated");
  assert.equal(s.hello.success, true);
  assert.equal(s.hello.userId, user);
  assert.equal(s.hello.email, email);
  assert.equal(s.hello.socketId, s.id, "socketId is the client's socket.id");
  assertTimestamp(s.hello.timestamp);
}

// The JWT failures of DESIGN §1, each with the code the client must see.
function badTokens() {
  const user = uid("bad");
  const now = nowSec();
  const good = { sub: user, email: "x@example.com", iat: now, exp: now + 3600 };
  return [
    { name: "missing (no auth, no query)", opts: { auth: {} }, code: "token_missing" },
    { name: "empty auth.token", opts: { auth: { token: "" } }, code: "token_missing" },
    { name: "auth.token not a string", opts: { auth: { token: 42 } }, code: "token_missing" },
    { name: "garbage", opts: { auth: { token: "not-a-jwt" } }, code: "token_invalid" },
    { name: "three garbage segments", opts: { auth: { token: "a.b.c" } }, code: "token_invalid" },
    { name: "wrong signature", opts: { auth: { token: sign(good, { secret: "another-secret" }) } }, code: "token_invalid" },
    { name: "tampered claims", opts: { auth: { token: tamper(sign(good), { ...good, sub: "admin" }) } }, code: "token_invalid" },
    { name: "alg none, unsigned", opts: { auth: { token: sign(good, { header: { alg: "none", typ: "JWT" }, signature: "" }) } }, code: "token_invalid" },
    { name: "alg None, HMAC signature", opts: { auth: { token: sign(good, { header: { alg: "None", typ: "JWT" } }) } }, code: "token_invalid" },
    { name: "RS256 header, HMAC with the secret (key confusion)", opts: { auth: { token: sign(good, { header: { alg: "RS256", typ: "JWT" } }) } }, code: "token_invalid" },
    { name: "HS512 header", opts: { auth: { token: sign(good, { header: { alg: "HS512", typ: "JWT" } }) } }, code: "token_invalid" },
    { name: "expired", opts: { auth: { token: sign({ ...good, iat: now - 7200, exp: now - 60 }) } }, code: "token_expired" },
    { name: "not yet valid (nbf in the future)", opts: { auth: { token: sign({ ...good, nbf: now + 3600 }) } }, code: "token_invalid" },
    { name: "missing sub", opts: { auth: { token: sign({ email: "x@example.com", iat: now, exp: now + 3600 }) } }, code: "token_invalid" },
    { name: "empty sub", opts: { auth: { token: sign({ ...good, sub: "" }) } }, code: "token_invalid" },
    { name: "bad token in the query", opts: { query: { token: "not-a-jwt" } }, code: "token_invalid" },
    { name: "expired token in the query", opts: { query: { token: sign({ ...good, exp: now - 60 }) } }, code: "token_expired" },
  ];
}

// tamper replaces the claims of a signed token, keeping its signature.
function tamper(jwt, claims) {
  const [h, , s] = jwt.split(".");
  return `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
}

describe("handshake", { concurrency: true, timeout: 30000 }, () => {
  for (const mode of MODES) {
    describe(`over ${mode.name}`, { concurrency: false }, () => {
      it("accepts the token in auth.token and sends authenticated {success, userId, email, socketId, timestamp}", async (t) => {
        const user = uid();
        const s = await connect(t, server, mode, token(user));
        checkAuthenticated(s, user);
        // Counted before it was told (the seed registers, then emits).
        assert.deepEqual((await api(server, "GET", `/v1/users/${user}/presence`)).body, { userId: user, online: true, sockets: 1 });
        // Then the unread count, and nothing else: no presence either (the
        // socket watches nobody).
        assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 0, unseenCount: 0 }, "notification:unread_count");
        assert.deepEqual(s.inbox.names(), ["authenticated", "notification:unread_count"]);
      });

      it("accepts the token in the query parameter token", async (t) => {
        const user = uid();
        const s = open(t, server, mode, { query: { token: token(user) } });
        s.hello = await s.inbox.take("authenticated");
        checkAuthenticated(s, user);
      });

      it("prefers auth.token over the query", async (t) => {
        const user = uid();
        const s = open(t, server, mode, { auth: { token: token(user) }, query: { token: "not-a-jwt" } });
        s.hello = await s.inbox.take("authenticated");
        checkAuthenticated(s, user);
      });

      it("joins user:{userId}: an API emit to that room reaches every socket of the user and no one else", async (t) => {
        const user = uid();
        const other = uid();
        const [a1, a2, b] = await Promise.all([
          connect(t, server, mode, token(user)),
          connect(t, server, mode, token(user)),
          connect(t, server, mode, token(other)),
        ]);
        const res = await api(server, "POST", "/v1/emit", { event: "custom:ping", data: { n: 1 }, room: `user:${user}` });
        assert.equal(res.status, 202);
        for (const s of [a1, a2]) {
          assertPayload(await s.inbox.take("custom:ping"), { n: 1 }, "custom:ping");
        }
        await b.inbox.none("custom:ping", 300);
      });

      it("refuses every bad JWT with connect_error, a message and data.code", async (t) => {
        for (const c of badTokens()) {
          const { err, socket } = await connectError(t, server, mode, c.opts);
          assert.equal(typeof err.message, "string", c.name);
          assert.ok(err.message.length > 0, `${c.name}: a message`);
          assert.deepEqual(err.data, { code: c.code }, `${c.name}: data`);
          assert.equal(socket.connected, false, c.name);
          assert.equal(socket.active, false, `${c.name}: a refusal is final, the client does not retry`);
          assert.equal(socket.inbox.all.length, 0, `${c.name}: no event: ${socket.inbox.summary()}`);
        }
      });
    });
  }
});

describe("a refused socket gets nothing", () => {
  // Over a bare Engine.IO connection the test sees every packet: after the
  // CONNECT_ERROR, a broadcast to the default tenant and a user emit to the
  // token's subject must not reach it, and the server must not count it.
  it("is not joined, not counted, and receives no emit", async (t) => {
    await waitFor(async () => assert.deepEqual(await stats(server), { connectedUsers: 0, sockets: 0, nodes: 1 }));
    const user = uid();
    const m = await rawManager(t, server, WEBSOCKET);
    const bad = [
      sign({ sub: user, exp: nowSec() - 10 }),
      sign({ sub: user, exp: nowSec() + 3600 }, { secret: "wrong" }),
      sign({ sub: user, exp: nowSec() + 3600 }, { header: { alg: "none" }, signature: "" }),
    ];
    for (const jwt of bad) {
      const n = m.packets.length;
      m.engine.write("0" + JSON.stringify({ token: jwt }));
      await waitFor(() => assert.ok(m.packets.length > n));
      const p = m.packets[n];
      assert.equal(p.type, 4, `CONNECT_ERROR packet, got ${JSON.stringify(p)}`);
      assert.equal(p.nsp, "/");
      assertKeys(p.data, ["message", "data"], "CONNECT_ERROR payload");
      assert.ok(["token_expired", "token_invalid"].includes(p.data.data.code));
    }
    assert.deepEqual(await stats(server), { connectedUsers: 0, sockets: 0, nodes: 1 });
    const presence = await api(server, "GET", `/v1/users/${user}/presence`);
    assert.deepEqual(presence.body, { userId: user, online: false, sockets: 0 });
    assert.equal((await api(server, "POST", "/v1/emit", { event: "hello", data: {}, broadcast: true })).status, 202);
    assert.equal((await api(server, "POST", "/v1/emit", { event: "hello", data: {}, userId: user })).status, 202);
    await notify(server, user);
    // The next ping leaves after them on the same connection: by then
    // anything sent to this session has arrived.
    await once(m.engine, "ping", 5000);
    assert.equal(m.packets.length, bad.length, `only the CONNECT_ERRORs: ${JSON.stringify(m.packets)}`);
    assert.deepEqual(await stats(server), { connectedUsers: 0, sockets: 0, nodes: 1 });

    // The session itself is intact: a good CONNECT on it works and is the
    // only socket counted.
    m.engine.write("0" + JSON.stringify({ token: token(user), since: 0 }));
    // Presence events of this and earlier tests' users aside.
    const after = () => m.packets.slice(bad.length).filter((p) => !(p.type === 2 && p.data[0].startsWith("user:")));
    await waitFor(() => assert.ok(after().length >= 4));
    const [connectPacket, hello, replayed, count] = after();
    assert.equal(connectPacket.type, 0);
    assert.deepEqual(hello.data[0], "authenticated");
    assert.deepEqual(replayed.data[0], "notification:new", "the notification stored meanwhile is replayed");
    assert.deepEqual(count.data[0], "notification:unread_count");
    assert.equal(count.data[1].unreadCount, 1);
    assert.deepEqual(await stats(server), { connectedUsers: 1, sockets: 1, nodes: 1 });
  });
});

// The seed's React hook (useSocket) and NotificationBell, with their exact
// options: websocket first, polling as fallback, reconnectionAttempts 5,
// reconnectionDelay 1000, the token in auth.
describe("the seed's frontend, unchanged", () => {
  it("connects, authenticates, counts, receives notifications and marks them read", async (t) => {
    const user = uid();
    const socket = io(server.url, {
      path: "/socket.io/",
      transports: ["websocket", "polling"],
      auth: { token: token(user) },
      reconnectionAttempts: 5,
      reconnectionDelay: 1000,
    });
    t.after(() => socket.disconnect());
    let unreadCount = -1;
    const seen = [];
    socket.on("notification:unread_count", (data) => (unreadCount = data.unreadCount));
    socket.on("notification:new", (data) => seen.push(data));
    const [authenticated] = await Promise.all([once(socket, "authenticated"), once(socket, "connect")]);
    assert.equal(authenticated.email, `${user}@example.com`);
    assert.equal(authenticated.socketId, socket.id);
    assert.equal(socket.io.engine.transport.name, "websocket");
    await waitFor(() => assert.equal(unreadCount, 0));

    const n = await notify(server, user, { title: "Pedido enviado", message: "Tu pedido #42 salió", data: { orderId: 42 } });
    await waitFor(() => assert.equal(seen.length, 1));
    assertNew(seen[0], n);
    await waitFor(() => assert.equal(unreadCount, 1));

    // The seed's frontend emits without an ack and listens for the events.
    const read = once(socket, "notification:read");
    socket.emit("notification:mark_read", { notificationId: n.id });
    assertPayload(await read, { notificationId: n.id, success: true }, "notification:read");
    await waitFor(() => assert.equal(unreadCount, 0));
  });
});
