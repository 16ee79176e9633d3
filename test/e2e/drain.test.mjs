// Drain on SIGTERM (lame duck, DESIGN §2 operations): herald at once refuses
// new Engine.IO handshakes (503 with a JSON error) and answers /readyz 503,
// then closes its clients spread over --drain-period ("transport close", so
// that they reconnect elsewhere), then finishes HTTP requests and closes the
// store. Nothing the API acknowledged meanwhile is lost.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MODES, api, connect, listAll, startHerald, tempDB, token, uid, waitFor } from "./harness.mjs";

const DRAIN_MS = 2000;
const DELIVERY_MS = 1000; // for a close to travel, on a loaded machine

describe("drain", { timeout: 30000 }, () => {
  it("SIGTERM: handshakes and /readyz 503 within 100 ms, every client closed within the drain period, nothing acknowledged lost", async (t) => {
    const db = tempDB();
    const server = await startHerald({ db, flags: ["--drain-period", `${DRAIN_MS}ms`] });
    const users = Array.from({ length: 9 }, () => uid("u"));
    const clients = [];
    for (const [i, user] of users.entries()) {
      const s = await connect(t, server, MODES[i % MODES.length], token(user));
      const mode = MODES[i % MODES.length].name;
      s.closed = new Promise((resolve) => s.on("disconnect", (reason) => resolve({ at: Date.now(), reason, mode })));
      clients.push(s);
    }

    // The API keeps creating notifications until herald stops answering.
    const acked = [];
    let exited = false;
    t.after(() => (exited = true));
    const writer = (async () => {
      for (let i = 0; !exited; i++) {
        try {
          const res = await api(server, "POST", "/v1/notifications", { userId: users[i % users.length], type: "info", title: `n${i}`, message: "m" });
          if (res.status === 201) acked.push(res.body.notifications[0]);
        } catch {} // refused once the listener is gone
      }
    })();
    await waitFor(() => assert.ok(acked.length >= 5));

    const sigterm = Date.now();
    const stopped = server.stop(); // SIGTERM, then a clean exit is checked
    // 100 ms after SIGTERM, a load balancer's probe and a new client are
    // both refused.
    await new Promise((resolve) => setTimeout(resolve, sigterm + 100 - Date.now()));
    const [ready, handshake] = await Promise.all([fetch(server.url + "/readyz"), fetch(server.url + "/socket.io/?EIO=4&transport=polling")]);
    assert.equal(ready.status, 503, "/readyz 100ms after SIGTERM");
    assert.equal(handshake.status, 503, "a new handshake 100ms after SIGTERM");
    assert.equal(typeof (await handshake.json()).message, "string", "the 503 has a JSON error");

    // herald closes the last one within the period; what it takes the
    // close to reach the client (a polling client gets it on its next
    // poll) is allowed for on top.
    const closes = await Promise.all(clients.map((s) => s.closed));
    for (const c of closes) {
      assert.equal(c.reason, "transport close", "a drained client reconnects by itself");
      assert.ok(c.at - sigterm <= DRAIN_MS + DELIVERY_MS, `a ${c.mode} client closed ${c.at - sigterm}ms after SIGTERM, drain period ${DRAIN_MS}ms`);
    }
    const spread = Math.max(...closes.map((c) => c.at)) - Math.min(...closes.map((c) => c.at));
    assert.ok(spread >= DRAIN_MS / 3, `clients closed within ${spread}ms of each other: not spread over the drain period`);

    await stopped;
    exited = true;
    await writer;

    // Every acknowledged notification is in the store.
    const again = await startHerald({ db });
    for (const user of users) {
      const stored = new Set((await listAll(again, token(user))).map((n) => n.id));
      for (const n of acked.filter((n) => n.userId === user)) assert.ok(stored.has(n.id), `acknowledged notification ${n.id} lost`);
    }
    await again.stop();
  });
});
