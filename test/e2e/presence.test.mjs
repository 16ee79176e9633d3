// Presence by subscription (DESIGN §2, §5): a socket watches users of its
// own tenant with presence:subscribe {userIds} (ack {success, online}) and
// gets user:online {userId, timestamp} when a watched user's first socket
// connects and user:offline when the last one leaves and does not come back
// within the grace period. Nothing is sent to sockets that do not watch.
// The grace is set with --presence-grace; the watch limit with
// --presence-watch-limit.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { DEFAULT, POLLING, WEBSOCKET, ack, api, assertFailure, assertPayload, connect, startHerald, token, uid, waitFor } from "./harness.mjs";

const GRACE_MS = 2500;
const LIMIT = 5;

let server;
before(async () => {
  server = await startHerald({ flags: ["--presence-grace", `${GRACE_MS}ms`, "--presence-watch-limit", String(LIMIT)] });
});

const about = (user) => (d) => d.userId === user;
const presenceOf = (s, user) => s.inbox.all.filter((r) => r.event.startsWith("user:") && r.data.userId === user).map((r) => r.event);
const presence = async (tenant, user) => (await api(server, "GET", `/v1/users/${user}/presence?tenantId=${tenant}`)).body;

// watch subscribes s to users and checks the ack.
async function watch(s, users, online = []) {
  const res = await ack(s, "presence:subscribe", { userIds: users });
  assert.deepEqual(res, { success: true, online }, "presence:subscribe ack");
}

describe("presence", { concurrency: true, timeout: 30000 }, () => {
  for (const mode of [WEBSOCKET, POLLING, DEFAULT]) {
    it(`a watcher sees online and offline, a reload within the grace is absorbed, nobody else hears (${mode.name})`, async (t) => {
      const tenant = uid("tenant");
      const user = uid("user");
      const jwt = token(user, { tenant });
      const watcher = await connect(t, server, mode, token(uid("watcher"), { tenant }));
      const bystander = await connect(t, server, mode, token(uid("bystander"), { tenant }));
      await watch(watcher, [user]);
      assert.deepEqual(await presence(tenant, user), { userId: user, online: false, sockets: 0 });

      // First socket: online, to the watcher only (not to the user itself).
      const tab1 = await connect(t, server, mode, jwt);
      assertPayload(await watcher.inbox.take("user:online", { where: about(user) }), { userId: user }, "user:online");
      assert.deepEqual(await presence(tenant, user), { userId: user, online: true, sockets: 1 });

      // A second tab: no second online; closing it: no offline.
      const tab2 = await connect(t, server, mode, jwt);
      assert.deepEqual(await presence(tenant, user), { userId: user, online: true, sockets: 2 });
      tab2.disconnect();
      await waitFor(async () => assert.deepEqual(await presence(tenant, user), { userId: user, online: true, sockets: 1 }));

      // A reload: the last socket leaves and a new one comes at once. The
      // reconnect is measured; it must fit in the grace.
      const left = Date.now();
      tab1.disconnect();
      await waitFor(async () => assert.equal((await presence(tenant, user)).sockets, 0));
      const tab3 = await connect(t, server, mode, jwt);
      const gap = Date.now() - left;
      assert.ok(gap < GRACE_MS, `the reload took ${gap}ms, more than the ${GRACE_MS}ms grace`);
      await watcher.inbox.none("user:offline", GRACE_MS + 300, about(user));
      assert.deepEqual(presenceOf(watcher, user), ["user:online"], "a reload within the grace announces nothing");

      // Gone for good: offline after the grace, not before.
      const gone = Date.now();
      const offline = watcher.inbox.take("user:offline", { where: about(user), ms: GRACE_MS + 5000 });
      tab3.disconnect();
      assertPayload(await offline, { userId: user }, "user:offline");
      const after = Date.now() - gone;
      assert.ok(after >= GRACE_MS - 200, `offline came ${after}ms after the last socket left, before the grace`);
      assert.deepEqual(await presence(tenant, user), { userId: user, online: false, sockets: 0 });

      // Nobody who does not watch heard of the user.
      for (const s of [bystander, tab2, tab3]) assert.deepEqual(presenceOf(s, user), [], "a non-watcher heard of the user");
    });
  }

  it("the ack lists who is online now; a same-id user of another tenant never triggers", async (t) => {
    const tenant = uid("tenant");
    const [here, away, twin] = [uid("here"), uid("away"), uid("twin")];
    await connect(t, server, WEBSOCKET, token(here, { tenant }));
    const watcher = await connect(t, server, WEBSOCKET, token(uid("watcher"), { tenant }));
    await watch(watcher, [here, away, here, twin], [here]);
    // twin connects in another tenant and in the default tenant: the
    // watcher, of tenant, watches its own tenant's twin only.
    await connect(t, server, WEBSOCKET, token(twin, { tenant: uid("tenant") }));
    const other = await connect(t, server, POLLING, token(twin));
    other.disconnect();
    await watcher.inbox.none("user:online", 500, about(twin));
    assert.deepEqual(presenceOf(watcher, twin), []);
    // Its own tenant's twin does.
    await connect(t, server, WEBSOCKET, token(twin, { tenant }));
    await watcher.inbox.take("user:online", { where: about(twin) });
  });

  it("the watch limit refuses and changes nothing", async (t) => {
    const tenant = uid("tenant");
    const watcher = await connect(t, server, WEBSOCKET, token(uid("watcher"), { tenant }));
    const users = Array.from({ length: LIMIT + 1 }, () => uid("u"));
    await watch(watcher, users.slice(0, LIMIT - 1));
    // One more fits; two more do not, and neither is watched after.
    const refused = await ack(watcher, "presence:subscribe", { userIds: [users[LIMIT - 1], users[LIMIT]] });
    assertFailure(refused, "limit");
    await connect(t, server, WEBSOCKET, token(users[LIMIT - 1], { tenant }));
    await connect(t, server, WEBSOCKET, token(users[LIMIT], { tenant }));
    // Re-watching what is watched is free; the last slot still is open.
    await watch(watcher, [users[0], users[LIMIT - 1]], [users[LIMIT - 1]]);
    assertFailure(await ack(watcher, "presence:subscribe", { userIds: [users[LIMIT]] }), "limit");
    assert.deepEqual(presenceOf(watcher, users[LIMIT - 1]), [], "a refused subscribe watched a user");
    assert.deepEqual(presenceOf(watcher, users[LIMIT]), []);
    // Bad requests are refused with invalid.
    for (const bad of [{}, { userIds: [] }, { userIds: [""] }, { userIds: "x" }]) {
      assertFailure(await ack(watcher, "presence:subscribe", bad), "invalid");
    }
  });

  it("unsubscribe stops events; a disconnect drops the watches", async (t) => {
    const tenant = uid("tenant");
    const [a, b] = [uid("a"), uid("b")];
    const wid = uid("watcher");
    const watcher = await connect(t, server, DEFAULT, token(wid, { tenant }));
    await watch(watcher, [a, b]);
    const sa = await connect(t, server, WEBSOCKET, token(a, { tenant }));
    await watcher.inbox.take("user:online", { where: about(a) });
    assert.deepEqual(await ack(watcher, "presence:unsubscribe", { userIds: [a] }), { success: true });
    sa.disconnect();
    await connect(t, server, WEBSOCKET, token(b, { tenant }));
    await watcher.inbox.take("user:online", { where: about(b) }); // still watching b
    await watcher.inbox.none("user:offline", GRACE_MS + 500, about(a));
    assert.deepEqual(presenceOf(watcher, a), ["user:online"], "events after unsubscribe");
    // A watcher that left watches nothing: a new socket of it starts empty.
    watcher.disconnect();
    const again = await connect(t, server, WEBSOCKET, token(wid, { tenant }));
    const sb = await connect(t, server, WEBSOCKET, token(b, { tenant }));
    sb.disconnect();
    await again.inbox.none("user:online", 300, about(b));
    assert.deepEqual(presenceOf(again, b), []);
  });

  it("POST /v1/presence/query answers who is online among the ids, per tenant", async (t) => {
    const tenant = uid("tenant");
    const [x, y] = [uid("x"), uid("y")];
    await connect(t, server, WEBSOCKET, token(x, { tenant }));
    await connect(t, server, WEBSOCKET, token(y));
    const q = async (body) => (await api(server, "POST", "/v1/presence/query", body)).body;
    assert.deepEqual(await q({ tenantId: tenant, userIds: [y, x] }), { online: [x] });
    assert.deepEqual(await q({ userIds: [x, y] }), { online: [y] });
    const tooMany = await api(server, "POST", "/v1/presence/query", { userIds: Array.from({ length: 1001 }, (_, i) => `u${i}`) });
    assert.equal(tooMany.status, 400);
  });

  it("presence can be turned off (--presence=false): subscribe is refused", async (t) => {
    const quiet = await startHerald({ flags: ["--presence=false"] });
    const tenant = uid("tenant");
    const watcher = await connect(t, quiet, WEBSOCKET, token(uid("watcher"), { tenant }));
    const user = uid("user");
    assertFailure(await ack(watcher, "presence:subscribe", { userIds: [user] }), "forbidden");
    const s = await connect(t, quiet, WEBSOCKET, token(user, { tenant }));
    s.disconnect();
    await watcher.inbox.none("user:online", 300);
    await quiet.stop();
  });
});
