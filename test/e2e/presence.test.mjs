// Presence (DESIGN §1, §2): user:online {userId, timestamp} when a user's
// first socket connects and user:offline when the last one leaves and does
// not come back within the grace period, sent within the user's tenant only.
// herald serve has no flag for the grace period, so this runs with the
// gateway's default of 3s.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { DEFAULT, POLLING, WEBSOCKET, api, assertPayload, connect, delay, once, startHerald, token, uid } from "./harness.mjs";

const GRACE_MS = 3000;

let server;
before(async () => {
  server = await startHerald();
});

const about = (user) => (d) => d.userId === user;

describe("presence", { concurrency: true, timeout: 30000 }, () => {
  for (const mode of [WEBSOCKET, POLLING, DEFAULT]) {
    it(`online once, a quick reload is absorbed, offline after the grace period, only in the tenant (${mode.name})`, async (t) => {
      const tenant = uid("tenant");
      const user = uid("user");
      const jwt = token(user, { tenant });
      const watcher = await connect(t, server, mode, token(uid("watcher"), { tenant }));
      const outsider = await connect(t, server, mode, token(uid("outsider"), { tenant: uid("tenant") }));
      const defaultTenant = await connect(t, server, mode, token(uid("default")));
      const presence = async () => (await api(server, "GET", `/v1/users/${user}/presence?tenantId=${tenant}`)).body;
      assert.deepEqual(await presence(), { userId: user, online: false, sockets: 0 });

      // First socket: online, to the whole tenant (the user included).
      const tab1 = await connect(t, server, mode, jwt);
      assertPayload(await watcher.inbox.take("user:online", { where: about(user) }), { userId: user }, "user:online");
      assertPayload(await tab1.inbox.take("user:online", { where: about(user) }), { userId: user }, "user:online");
      assert.deepEqual(await presence(), { userId: user, online: true, sockets: 1 });

      // A second tab: no second online; closing it: no offline.
      const tab2 = await connect(t, server, mode, jwt);
      assert.deepEqual(await presence(), { userId: user, online: true, sockets: 2 });
      tab2.disconnect();
      await delay(300);
      assert.deepEqual(await presence(), { userId: user, online: true, sockets: 1 });

      // A reload: the last socket leaves and a new one comes within the grace.
      const left = Date.now();
      tab1.disconnect();
      await delay(300);
      const tab3 = await connect(t, server, mode, jwt);
      const gap = Date.now() - left;
      await delay(GRACE_MS + 700);
      if (gap < GRACE_MS - 500) {
        assert.equal(watcher.inbox.of("user:offline").filter(about(user)).length, 0, "a reload within the grace is not an offline");
        assert.equal(watcher.inbox.of("user:online").filter(about(user)).length, 1, "nor a second online");
      } else {
        // The grace period is not configurable (no serve flag); on a
        // machine this slow the reload did not fit in it.
        t.diagnostic(`reconnect took ${gap}ms, not within the ${GRACE_MS}ms grace: reload check skipped`);
        watcher.inbox.all.forEach((r) => r.event === "user:offline" && r.data.userId === user && (r.taken = true));
      }

      // Gone for good: offline after the grace, not before.
      const gone = Date.now();
      const offline = watcher.inbox.take("user:offline", { where: about(user), ms: GRACE_MS + 5000 });
      tab3.disconnect();
      assertPayload(await offline, { userId: user }, "user:offline");
      const after = Date.now() - gone;
      assert.ok(after >= GRACE_MS - 200, `offline came ${after}ms after the last socket left, before the grace`);
      assert.deepEqual(await presence(), { userId: user, online: false, sockets: 0 });

      // Nobody outside the tenant heard of the user.
      for (const s of [outsider, defaultTenant]) {
        assert.equal(s.inbox.all.filter((r) => r.event.startsWith("user:") && r.data.userId === user).length, 0);
      }
    });
  }

  it("presence can be turned off (--presence=false)", async (t) => {
    const quiet = await startHerald({ flags: ["--presence=false"] });
    const tenant = uid("tenant");
    const watcher = await connect(t, quiet, WEBSOCKET, token(uid("watcher"), { tenant }));
    const s = await connect(t, quiet, WEBSOCKET, token(uid("user"), { tenant }));
    s.disconnect();
    await Promise.all([watcher.inbox.none("user:online", 500), watcher.inbox.none("user:offline", 500)]);
    await quiet.stop();
  });
});
