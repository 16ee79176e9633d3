// Restarts and graceful shutdown (DESIGN §2): the store outlives the
// process, so a client replays across a restart with the same SQLite file;
// SIGTERM closes every transport so that clients reconnect by themselves.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  MODES, WEBSOCKET, POLLING, ack, assertNew, assertPayload, connect, delay, listAll, notify, once, open, startHerald, tempDB, token,
  uid, waitFor,
} from "./harness.mjs";

describe("restart", { concurrency: true, timeout: 40000 }, () => {
  for (const mode of [WEBSOCKET, POLLING]) {
    it(`replays across a restart of herald with the same SQLite file (${mode.name})`, async (t) => {
      const db = tempDB();
      const user = uid("restart");
      const jwt = token(user);
      const a = await startHerald({ db });
      const first = await connect(t, a, mode, jwt, { auth: { since: 0 } });
      const n1 = await notify(a, user);
      const n2 = await notify(a, user);
      assertNew(await first.inbox.take("notification:new"), n1);
      assertNew(await first.inbox.take("notification:new"), n2);
      first.disconnect();
      const n3 = await notify(a, user, { title: "while away, before the restart" });
      const n4 = await notify(a, user, { title: "while away, before the restart" });
      await a.stop();

      const b = await startHerald({ db });
      const n5 = await notify(b, user, { title: "after the restart" });
      assert.equal(n5.seq, 5, "seq keeps counting across the restart");
      const s = await connect(t, b, mode, jwt, { auth: { since: n2.seq } });
      for (const n of [n3, n4, n5]) assertNew(await s.inbox.take("notification:new"), n);
      assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 5, unseenCount: 5 });
      assert.deepEqual(s.inbox.names().filter((e) => !e.startsWith("user:")), [
        "authenticated", "notification:new", "notification:new", "notification:new", "notification:unread_count",
      ]);
      assert.deepEqual((await listAll(b, jwt)).map((n) => n.seq), [5, 4, 3, 2, 1]);
      assert.deepEqual(await ack(s, "notification:mark_read", { notificationId: n1.id }), { success: true });
      assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 4, unseenCount: 5 });
    });
  }

  // The seed's clients reconnect on their own (reconnection is on by
  // default); auth is a function so that each attempt sends the last seq
  // seen, as an app would.
  it("SIGTERM: every client sees a transport close, reconnects to the restarted server and misses nothing", async (t) => {
    const db = tempDB();
    const a = await startHerald({ db });
    const port = a.port;
    const clients = [];
    for (const mode of MODES) {
      const user = uid("shutdown");
      const jwt = token(user);
      const c = { mode, user, jwt, lastSeq: 0 };
      c.socket = open(t, a, mode, {
        auth: (cb) => cb({ token: jwt, since: c.lastSeq }),
        reconnection: true,
        reconnectionDelay: 200,
        reconnectionDelayMax: 400,
        randomizationFactor: 0,
      });
      c.socket.on("notification:new", (d) => (c.lastSeq = Math.max(c.lastSeq, d.notification.seq)));
      await c.socket.inbox.take("authenticated");
      clients.push(c);
    }
    for (const c of clients) {
      c.n1 = await notify(a, c.user);
      assertNew(await c.socket.inbox.take("notification:new"), c.n1);
    }

    const disconnects = clients.map((c) => once(c.socket, "disconnect", 10000));
    const attempts = clients.map((c) => once(c.socket.io, "reconnect_attempt", 10000));
    const t0 = Date.now();
    const res = await a.stop("SIGTERM");
    assert.equal(res.code, 0);
    assert.ok(Date.now() - t0 < 6000, `graceful shutdown took ${Date.now() - t0}ms (--shutdown-timeout 3s)`);
    for (const [i, reason] of (await Promise.all(disconnects)).entries()) {
      const c = clients[i];
      if (c.mode.final === "websocket") {
        assert.equal(reason, "transport close", `${c.mode.name}: a transport close, which the client retries`);
      } else {
        // A polling client whose GET was pending gets the close packet
        // ("transport close"); one caught between two GETs finds the
        // listener closed ("transport error"). Both make it reconnect.
        assert.ok(["transport close", "transport error"].includes(reason), `${c.mode.name}: ${reason}`);
      }
      assert.equal(c.socket.active, true, `${c.mode.name}: the client will reconnect`);
    }
    await Promise.all(attempts);

    // The same address again, the same file: the clients come back.
    const b = await startHerald({ db, port });
    for (const c of clients) {
      c.n2 = await notify(b, c.user, { title: "after the restart" });
      c.n3 = await notify(b, c.user, { title: "after the restart" });
    }
    for (const c of clients) {
      const s = c.socket;
      await waitFor(() => assert.ok(s.connected, `${c.mode.name} reconnected`), 10000);
      await s.inbox.take("authenticated", { ms: 10000 });
      await s.inbox.take("notification:new", { where: (d) => d.notification.seq === 3, ms: 10000 });
      await delay(200);
      const seqs = s.inbox.of("notification:new").map((d) => d.notification.seq);
      assert.deepEqual(seqs, [1, 2, 3], `${c.mode.name}: every notification once, in order`);
      assertNew(s.inbox.of("notification:new")[1], c.n2);
      assertNew(s.inbox.of("notification:new")[2], c.n3);
      assert.equal(s.inbox.of("authenticated").length, 2, "authenticated on each connection");
      assert.deepEqual(await ack(s, "notification:unread_count"), { success: true, unreadCount: 3, unseenCount: 3 });
    }
  });
});
