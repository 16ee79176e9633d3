// The server → client events of DESIGN §1 and the acknowledged client →
// server operations of DESIGN §5, over every transport: payload shapes,
// every socket of the user kept in step, and other users seeing nothing.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import {
  MODES, ack, api, assertFailure, assertKeys, assertNew, assertNotification, assertPayload, connect, listAll, notify, settle,
  startHerald, token, uid, unreadOf,
} from "./harness.mjs";

let server;
before(async () => {
  server = await startHerald();
});

// people connects user a with two sockets (two tabs) and user b with one,
// and consumes their greeting counts.
async function people(t, mode) {
  const a = uid("a");
  const b = uid("b");
  const jwtA = token(a);
  const jwtB = token(b);
  const [a1, a2, b1] = await Promise.all([
    connect(t, server, mode, jwtA),
    connect(t, server, mode, jwtA),
    connect(t, server, mode, jwtB),
  ]);
  for (const s of [a1, a2, b1]) {
    assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 0, unseenCount: 0 });
  }
  return { a, b, jwtA, jwtB, a1, a2, b1, tabs: [a1, a2] };
}

// Events about one user's feed; another user must never see any of them.
const FEED_EVENTS = ["notification:new", "notification:read", "notification:all_read", "notification:deleted", "notification:unread_count", "data:updated", "error"];

async function seesNothing(s, ms = 300) {
  await Promise.all(FEED_EVENTS.map((e) => s.inbox.none(e, ms)));
}

// created resolves once every socket got notification:new for each of ns
// and the unread count after them.
async function created(sockets, ns, count) {
  for (const s of sockets) {
    for (const n of ns) {
      assertNew(await s.inbox.take("notification:new", { where: (d) => d.notification.id === n.id }), n);
    }
    await s.inbox.takeThrough("notification:unread_count", { where: (d) => d.unreadCount === count });
  }
}

describe("events", { concurrency: true, timeout: 40000 }, () => {
  for (const mode of MODES) {
    describe(`over ${mode.name}`, { concurrency: false }, () => {
      it("notification:new {notification, timestamp} then notification:unread_count reach every tab of the user only", async (t) => {
        const { a, tabs, b1 } = await people(t, mode);
        const n = await notify(server, a, { type: "order", title: "Order shipped", message: "Order #42 is on its way", data: { orderId: 42, tags: ["x"] } });
        assertNotification(n, { userId: a, tenantId: "", seq: 1, type: "order", title: "Order shipped", message: "Order #42 is on its way", data: { orderId: 42, tags: ["x"] }, status: "unread", readAt: null, expiresAt: null });
        for (const s of tabs) {
          assertNew(await s.inbox.take("notification:new"), n);
          assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 1, unseenCount: 1 }, "notification:unread_count");
          const names = s.inbox.names().filter((e) => e.startsWith("notification:"));
          assert.deepEqual(names, ["notification:unread_count", "notification:new", "notification:unread_count"], "the count follows the notification");
        }
        await seesNothing(b1);
      });

      it("notification:mark_read acks {success: true}; every tab gets notification:read and the count", async (t) => {
        const { a, jwtA, tabs, a1, b1 } = await people(t, mode);
        const n1 = await notify(server, a);
        const n2 = await notify(server, a);
        await created(tabs, [n1, n2], 2);

        assert.deepEqual(await ack(a1, "notification:mark_read", { notificationId: n1.id }), { success: true });
        for (const s of tabs) {
          assertPayload(await s.inbox.take("notification:read"), { notificationId: n1.id, success: true }, "notification:read");
          assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 1, unseenCount: 2 }, "notification:unread_count");
        }
        const feed = await listAll(server, jwtA);
        assert.deepEqual(feed.map((n) => [n.id, n.status]), [[n2.id, "unread"], [n1.id, "read"]]);
        assert.ok(Date.parse(feed[1].readAt) >= Date.parse(n1.createdAt), "readAt is set");

        // Marking it again succeeds and keeps the count.
        assert.deepEqual(await ack(a1, "notification:mark_read", { notificationId: n1.id }), { success: true });
        assertPayload(await a1.inbox.take("notification:unread_count"), { unreadCount: 1, unseenCount: 2 });
        assert.equal(await unreadOf(server, jwtA), 1);
        await seesNothing(b1);
      });

      it("notification:mark_read with bad input acks {success: false, error: {code, message}} and sends error {message}", async (t) => {
        const { a, jwtA, a1, a2 } = await people(t, mode);
        const n = await notify(server, a);
        await created([a1, a2], [n], 1);
        const cases = [
          [{ notificationId: "no-such-id" }, "not_found"],
          [{}, "invalid"],
          [{ notificationId: "" }, "invalid"],
          ["not an object", "invalid"],
          [{ notificationId: 42 }, "invalid"],
        ];
        for (const [payload, code] of cases) {
          assertFailure(await ack(a1, "notification:mark_read", payload), code);
          // The seed also tells the socket through its error event. DESIGN:
          // error is {message} (herald adds a code), with no timestamp.
          const err = await a1.inbox.take("error");
          assert.equal(typeof err.message, "string");
          assert.ok(err.message.length > 0);
          assertKeys(err, ["message", "code"], "error");
          assert.equal(err.code, code);
        }
        assertFailure(await ack(a1, "notification:mark_read"), "invalid");
        await a1.inbox.take("error");
        // Nothing changed and no tab was told anything.
        assert.equal(await unreadOf(server, jwtA), 1);
        await Promise.all([a1.inbox.none("notification:read", 200), a2.inbox.none("notification:read", 200), a2.inbox.none("error", 200)]);
      });

      it("notification:mark_all_read acks {success, updated}; every tab gets the zero count", async (t) => {
        const { a, jwtA, tabs, a2, b1 } = await people(t, mode);
        const ns = [await notify(server, a), await notify(server, a), await notify(server, a)];
        await created(tabs, ns, 3);
        assert.deepEqual(await ack(a2, "notification:mark_all_read", {}), { success: true, updated: 3 });
        for (const s of tabs) {
          assertPayload(await s.inbox.take("notification:all_read"), { updated: 3 }, "notification:all_read");
          assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 0, unseenCount: 3 });
        }
        assert.deepEqual(await ack(a2, "notification:mark_all_read"), { success: true, updated: 0 });
        assert.equal(await unreadOf(server, jwtA), 0);
        assert.ok((await listAll(server, jwtA)).every((n) => n.status === "read"));
        await seesNothing(b1);
      });

      it("notification:delete acks {success: true}; every tab gets notification:deleted and the count", async (t) => {
        const { a, jwtA, tabs, a1, b1 } = await people(t, mode);
        const n1 = await notify(server, a);
        const n2 = await notify(server, a);
        await created(tabs, [n1, n2], 2);
        assert.deepEqual(await ack(a1, "notification:delete", { notificationId: n1.id }), { success: true });
        for (const s of tabs) {
          assertPayload(await s.inbox.take("notification:deleted"), { notificationId: n1.id }, "notification:deleted");
          assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 1, unseenCount: 1 });
        }
        assert.deepEqual((await listAll(server, jwtA)).map((n) => n.id), [n2.id]);
        assertFailure(await ack(a1, "notification:delete", { notificationId: n1.id }), "not_found");
        assertFailure(await ack(a1, "notification:delete", {}), "invalid");
        assertFailure(await ack(a1, "notification:delete", [1, 2]), "invalid");
        assert.deepEqual((await listAll(server, jwtA)).map((n) => n.id), [n2.id]);
        await seesNothing(b1);
      });

      it("DELETE /v1/notifications/{id} answers 204; every tab gets notification:deleted and the count", async (t) => {
        const { a, jwtA, tabs, b1 } = await people(t, mode);
        const n = await notify(server, a);
        await created(tabs, [n], 1);
        const res = await api(server, "DELETE", `/v1/notifications/${encodeURIComponent(n.id)}`);
        assert.equal(res.status, 204);
        for (const s of tabs) {
          assertPayload(await s.inbox.take("notification:deleted"), { notificationId: n.id }, "notification:deleted");
          assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 0, unseenCount: 0 });
        }
        assert.equal((await api(server, "DELETE", `/v1/notifications/${encodeURIComponent(n.id)}`)).status, 404);
        assert.deepEqual(await listAll(server, jwtA), []);
        await seesNothing(b1);
      });

      it("notification:list acks {success, notifications, nextCursor}, newest first, keyset-paginated, filtered by unread", async (t) => {
        const { a, a1, tabs } = await people(t, mode);
        const ns = [];
        for (let i = 0; i < 5; i++) ns.push(await notify(server, a, { title: `n${i}` }));
        await created(tabs, ns, 5);
        assert.deepEqual(await ack(a1, "notification:mark_read", { notificationId: ns[3].id }), { success: true });

        const pages = [];
        let before;
        do {
          const res = await ack(a1, "notification:list", before ? { limit: 2, before } : { limit: 2 });
          assertKeys(res, ["success", "notifications", "nextCursor"], "list ack");
          assert.equal(res.success, true);
          res.notifications.forEach((n) => assertNotification(n, { userId: a }));
          pages.push(res.notifications.map((n) => n.title));
          before = res.nextCursor;
        } while (before);
        assert.deepEqual(pages, [["n4", "n3"], ["n2", "n1"], ["n0"]]);

        const all = await ack(a1, "notification:list", {});
        assert.deepEqual(all.notifications.map((n) => n.seq), [5, 4, 3, 2, 1]);
        assert.equal(all.notifications[1].status, "read");
        assert.ok(!all.nextCursor, "one page holds them all");
        const { notifications: first, ...rest } = await ack(a1, "notification:list");
        assert.equal(first.length, 5, "no payload means the defaults");

        const unread = await ack(a1, "notification:list", { unread: true });
        assert.deepEqual(unread.notifications.map((n) => n.title), ["n4", "n2", "n1", "n0"]);
        assert.ok(unread.notifications.every((n) => n.status === "unread"));

        assertFailure(await ack(a1, "notification:list", { before: "not-a-cursor" }), "invalid");
        assertFailure(await ack(a1, "notification:list", "nope"), "invalid");
      });

      it("notification:unread_count acks {success, unreadCount, unseenCount}", async (t) => {
        const { a, a1, tabs } = await people(t, mode);
        assert.deepEqual(await ack(a1, "notification:unread_count", {}), { success: true, unreadCount: 0, unseenCount: 0 });
        const ns = [await notify(server, a), await notify(server, a)];
        await created(tabs, ns, 2);
        assert.deepEqual(await ack(a1, "notification:unread_count", {}), { success: true, unreadCount: 2, unseenCount: 2 });
        assert.deepEqual(await ack(a1, "notification:unread_count"), { success: true, unreadCount: 2, unseenCount: 2 });
      });

      it("data:updated {type, data, timestamp} through POST /v1/emit reaches every tab of the user only", async (t) => {
        const { a, tabs, b1 } = await people(t, mode);
        const res = await api(server, "POST", "/v1/emit", { event: "data:updated", data: { type: "order", data: { id: 7, status: "paid" } }, userId: a });
        assert.equal(res.status, 202);
        for (const s of tabs) {
          assertPayload(await s.inbox.take("data:updated"), { type: "order", data: { id: 7, status: "paid" } }, "data:updated");
        }
        await seesNothing(b1);
      });

      it("POST /v1/emit to userIds reaches each of them", async (t) => {
        const { a, b, tabs, b1 } = await people(t, mode);
        const res = await api(server, "POST", "/v1/emit", { event: "data:updated", data: { type: "t", data: null }, userIds: [a, b] });
        assert.equal(res.status, 202);
        for (const s of [...tabs, b1]) {
          assertPayload(await s.inbox.take("data:updated"), { type: "t", data: null }, "data:updated");
        }
      });

      it("a notification created for several users (userIds) reaches each with their own count", async (t) => {
        const { a, b, tabs, b1 } = await people(t, mode);
        const res = await api(server, "POST", "/v1/notifications", { userIds: [a, b], type: "info", title: "Both" });
        assert.equal(res.status, 201);
        const [na, nb] = res.body.notifications;
        assert.equal(na.userId, a);
        assert.equal(nb.userId, b);
        await created(tabs, [na], 1);
        await created([b1], [nb], 1);
        assert.equal(tabs[0].inbox.of("notification:new").length, 1, "a does not get b's copy");
      });

      it("a create retried with the same idempotencyKey returns the stored notification and is announced once", async (t) => {
        const { a, jwtA, tabs } = await people(t, mode);
        const body = { userId: a, type: "info", title: "once", idempotencyKey: "order-42-shipped", groupKey: "order-42" };
        const first = await api(server, "POST", "/v1/notifications", body);
        const again = await api(server, "POST", "/v1/notifications", body);
        assert.equal(first.status, 201);
        assert.equal(again.status, 201);
        assert.deepEqual(again.body, first.body);
        assertNotification(first.body.notifications[0], { groupKey: "order-42" });
        await created(tabs, first.body.notifications, 1);
        await settle(server, a, tabs);
        for (const s of tabs) assert.equal(s.inbox.of("notification:new").length, 1, "announced once");
        assert.equal((await listAll(server, jwtA)).length, 1);
      });

      // Concurrent requests for one user race between the store and the
      // room; each tab must still see notification:new in seq order (else a
      // client that saw seq 20 and reconnects with since=20 loses 2..19) and
      // end on the exact count.
      it("concurrent creates, reads and deletes for one user: notification:new in seq order, the last count exact", async (t) => {
        const { a, jwtA, tabs, a1, a2 } = await people(t, mode);
        const N = 16;
        const ns = await Promise.all(Array.from({ length: N }, (_, i) => notify(server, a, { title: `burst ${i}` })));
        for (const s of tabs) {
          await s.inbox.take("notification:new", { where: (d) => d.notification.seq === N });
          await s.inbox.takeThrough("notification:unread_count", { where: (d) => d.unreadCount === N });
          await settle(server, a, [s]);
          const seqs = s.inbox.of("notification:new").map((d) => d.notification.seq);
          assert.deepEqual(seqs, Array.from({ length: N }, (_, i) => i + 1), "live notifications in seq order");
          assert.equal(s.inbox.of("notification:unread_count").at(-1).unreadCount, N, "the last count is the current one");
        }
        // Reads from both tabs, deletes over HTTP and more creates, all at once.
        const ops = [];
        for (let i = 0; i < 6; i++) ops.push(ack(i % 2 ? a1 : a2, "notification:mark_read", { notificationId: ns[i].id }));
        for (let i = 6; i < 9; i++) ops.push(api(server, "DELETE", `/v1/notifications/${encodeURIComponent(ns[i].id)}`));
        for (let i = 0; i < 4; i++) ops.push(notify(server, a, { title: `late ${i}` }));
        await Promise.all(ops);
        const want = await unreadOf(server, jwtA);
        assert.equal(want, N - 6 - 3 + 4);
        for (const s of tabs) {
          await s.inbox.take("notification:new", { where: (d) => d.notification.seq === N + 4 });
          await settle(server, a, [s]);
          assert.equal(s.inbox.of("notification:unread_count").at(-1).unreadCount, want, "the last count is the current one");
        }
        // mark_all_read racing creates: the count after both is exact.
        await Promise.all([ack(a1, "notification:mark_all_read"), notify(server, a), notify(server, a)]);
        const final = await unreadOf(server, jwtA);
        await settle(server, a, tabs);
        for (const s of tabs) assert.equal(s.inbox.of("notification:unread_count").at(-1).unreadCount, final);
      });
    });
  }
});
