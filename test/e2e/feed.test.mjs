// The feed operations beyond the seed's: delete all, the seen state apart
// from read, and marking many read in one call, over the socket and the
// user HTTP API; every tab of the user is told, another user nothing.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { MODES, api, ack, assertFailure, assertPayload, connect, listAll, notify, startHerald, token, uid } from "./harness.mjs";

let server;
before(async () => {
  server = await startHerald();
});

async function people(t, mode) {
  const a = uid("a");
  const b = uid("b");
  const jwtA = token(a);
  const [a1, a2, b1] = await Promise.all([connect(t, server, mode, jwtA), connect(t, server, mode, jwtA), connect(t, server, mode, token(b))]);
  for (const s of [a1, a2, b1]) assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 0, unseenCount: 0 });
  return { a, b, jwtA, a1, a2, b1, tabs: [a1, a2] };
}

async function createdFor(tabs, user, k) {
  const ns = [];
  for (let i = 0; i < k; i++) ns.push(await notify(server, user, { title: `n${i}` }));
  for (const s of tabs) await s.inbox.takeThrough("notification:unread_count", { where: (d) => d.unreadCount === k });
  return ns;
}

describe("feed operations", { concurrency: true, timeout: 30000 }, () => {
  for (const mode of MODES) {
    describe(`over ${mode.name}`, { concurrency: false }, () => {
      it("notification:delete_all acks {success, deleted}; every tab gets notification:all_deleted and the zero counts", async (t) => {
        const { a, b, jwtA, a1, tabs, b1 } = await people(t, mode);
        await createdFor(tabs, a, 3);
        const theirs = await notify(server, b);
        await b1.inbox.takeThrough("notification:unread_count", { where: (d) => d.unreadCount === 1 });
        assert.deepEqual(await ack(a1, "notification:delete_all", {}), { success: true, deleted: 3 });
        for (const s of tabs) {
          assertPayload(await s.inbox.take("notification:all_deleted"), { deleted: 3 }, "notification:all_deleted");
          assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 0, unseenCount: 0 });
        }
        assert.deepEqual(await listAll(server, jwtA), []);
        assert.deepEqual(await ack(a1, "notification:delete_all"), { success: true, deleted: 0 });
        await b1.inbox.none("notification:all_deleted", 200);
        assert.equal((await listAll(server, token(b)))[0].id, theirs.id);
        // Seqs keep counting after a delete all.
        assert.equal((await notify(server, a)).seq, 4);
      });

      it("notification:mark_seen {notificationIds} and {all: true} ack {success, updated}; seen is apart from read", async (t) => {
        const { a, jwtA, a1, a2, tabs, b1 } = await people(t, mode);
        const ns = await createdFor(tabs, a, 3);
        assert.deepEqual(await ack(a1, "notification:mark_seen", { notificationIds: [ns[0].id, "nope"] }), { success: true, updated: 1 });
        for (const s of tabs) {
          assertPayload(await s.inbox.take("notification:seen"), { notificationIds: [ns[0].id, "nope"], all: false, updated: 1 }, "notification:seen");
          assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 3, unseenCount: 2 });
        }
        assert.deepEqual(await ack(a2, "notification:mark_seen", { all: true }), { success: true, updated: 2 });
        for (const s of tabs) {
          assertPayload(await s.inbox.take("notification:seen"), { all: true, updated: 2 }, "notification:seen");
          assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 3, unseenCount: 0 });
        }
        const feed = await listAll(server, jwtA);
        assert.ok(feed.every((n) => n.seenAt !== null && n.status === "unread"), "seen, still unread");
        assert.deepEqual(await ack(a1, "notification:unread_count"), { success: true, unreadCount: 3, unseenCount: 0 });
        assertFailure(await ack(a1, "notification:mark_seen", {}), "invalid");
        assertFailure(await ack(a1, "notification:mark_seen", { all: true, notificationIds: [ns[1].id] }), "invalid");
        assertFailure(await ack(a1, "notification:mark_seen", "nope"), "invalid");
        await b1.inbox.none("notification:seen", 200);
      });

      it("notification:mark_read {notificationIds} marks many in one call; each tab gets notification:read per changed id", async (t) => {
        const { a, b, jwtA, a1, tabs, b1 } = await people(t, mode);
        const ns = await createdFor(tabs, a, 4);
        const theirs = await notify(server, b);
        const res = await ack(a1, "notification:mark_read", { notificationIds: [ns[2].id, ns[0].id, theirs.id, ns[2].id] });
        assert.deepEqual(res, { success: true, updated: 2, notificationIds: [ns[2].id, ns[0].id] });
        for (const s of tabs) {
          assertPayload(await s.inbox.take("notification:read"), { notificationId: ns[2].id, success: true });
          assertPayload(await s.inbox.take("notification:read"), { notificationId: ns[0].id, success: true });
          assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 2, unseenCount: 4 });
        }
        const feed = await listAll(server, jwtA);
        assert.deepEqual(feed.map((n) => n.status), ["unread", "read", "unread", "read"]);
        assert.equal((await listAll(server, token(b)))[0].status, "unread", "another user's id is skipped");
        assertFailure(await ack(a1, "notification:mark_read", { notificationIds: [] }), "invalid");
        assertFailure(await ack(a1, "notification:mark_read", { notificationIds: "x" }), "invalid");
        await b1.inbox.none("notification:read", 200);
      });
    });
  }

  it("the user HTTP routes: POST /v1/me/notifications/read and /seen, DELETE /v1/me/notifications", async (t) => {
    const user = uid("http");
    const jwt = token(user);
    const ns = [await notify(server, user), await notify(server, user), await notify(server, user)];
    const read = await api(server, "POST", "/v1/me/notifications/read", { notificationIds: [ns[1].id, ns[2].id] }, { auth: jwt });
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, { updated: 2, notificationIds: [ns[1].id, ns[2].id] });
    const seen = await api(server, "POST", "/v1/me/notifications/seen", { all: true }, { auth: jwt });
    assert.deepEqual([seen.status, seen.body], [200, { updated: 3 }]);
    assert.deepEqual((await api(server, "GET", "/v1/me/unread-count", undefined, { auth: jwt })).body, { unreadCount: 1, unseenCount: 0 });
    const bad = await api(server, "POST", "/v1/me/notifications/seen", {}, { auth: jwt });
    assert.deepEqual([bad.status, bad.body.error.code], [400, "invalid"]);
    const del = await api(server, "DELETE", "/v1/me/notifications", undefined, { auth: jwt });
    assert.deepEqual([del.status, del.body], [200, { deleted: 3 }]);
    assert.deepEqual(await listAll(server, jwt), []);
  });
});
