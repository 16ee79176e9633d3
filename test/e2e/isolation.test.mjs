// Nobody reads or changes another user's or another tenant's notifications
// (DESIGN §2 tenants, §4 "the answer is 404"): the same user id in two
// tenants is two people, broadcasts stay in their tenant, and every way of
// touching someone else's notification fails with not_found and changes
// nothing.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import {
  DEFAULT, WEBSOCKET, POLLING, ack, api, assertFailure, assertPayload, connect, listAll, notify, startHerald, token, uid, unreadOf,
} from "./harness.mjs";

let server;
before(async () => {
  server = await startHerald();
});

const FEED_EVENTS = ["notification:new", "notification:read", "notification:deleted", "notification:unread_count", "notification:all_read"];

async function seesNothing(s, events = FEED_EVENTS, ms = 300) {
  await Promise.all(events.map((e) => s.inbox.none(e, ms)));
}

async function greeted(...sockets) {
  for (const s of sockets) await s.inbox.take("notification:unread_count");
}

describe("isolation", { concurrency: true, timeout: 30000 }, () => {
  for (const mode of [WEBSOCKET, POLLING, DEFAULT]) {
    describe(`over ${mode.name}`, () => {
      it("the same user id in two tenants (and the default tenant) is three people", async (t) => {
        const user = uid("same");
        const [t1, t2] = [uid("tenant"), uid("tenant")];
        const jwt1 = token(user, { tenant: t1 });
        const jwt2 = token(user, { tenant: t2 });
        const jwt0 = token(user);
        const [s1, s2, s0] = await Promise.all([connect(t, server, mode, jwt1), connect(t, server, mode, jwt2), connect(t, server, mode, jwt0)]);
        for (const s of [s1, s2, s0]) assert.equal(s.hello.userId, user);
        await greeted(s1, s2, s0);

        const n1 = await notify(server, user, { tenantId: t1, title: "for t1" });
        assert.equal(n1.tenantId, t1);
        const n1b = await notify(server, user, { tenantId: t1, title: "for t1 again" });
        const n2 = await notify(server, user, { tenantId: t2, title: "for t2" });
        assert.equal(n2.seq, 1, "each tenant's user has its own seq");
        assert.equal(n1b.seq, 2);

        assert.deepEqual((await s1.inbox.take("notification:new")).notification, n1);
        assert.deepEqual((await s1.inbox.take("notification:new")).notification, n1b);
        assert.deepEqual((await s2.inbox.take("notification:new")).notification, n2);
        await s1.inbox.takeThrough("notification:unread_count", { where: (d) => d.unreadCount === 2 });
        assertPayload(await s2.inbox.take("notification:unread_count"), { unreadCount: 1, unseenCount: 1 });
        await seesNothing(s0);
        await Promise.all([s1.inbox.none("notification:new", 200), s2.inbox.none("notification:new", 200)]);

        assert.deepEqual(await ack(s1, "notification:unread_count"), { success: true, unreadCount: 2, unseenCount: 2 });
        assert.deepEqual(await ack(s2, "notification:unread_count"), { success: true, unreadCount: 1, unseenCount: 1 });
        assert.deepEqual(await ack(s0, "notification:unread_count"), { success: true, unreadCount: 0, unseenCount: 0 });
        assert.deepEqual((await ack(s2, "notification:list")).notifications.map((n) => n.id), [n2.id]);
        assert.deepEqual((await listAll(server, jwt1)).map((n) => n.id), [n1b.id, n1.id]);
        assert.deepEqual(await listAll(server, jwt0), []);

        // Tenant 2's user cannot touch tenant 1's notification.
        assertFailure(await ack(s2, "notification:mark_read", { notificationId: n1.id }), "not_found");
        assertFailure(await ack(s2, "notification:delete", { notificationId: n1.id }), "not_found");
        assertFailure(await ack(s0, "notification:mark_read", { notificationId: n1.id }), "not_found");
        assert.deepEqual(await ack(s2, "notification:mark_all_read"), { success: true, updated: 1 });
        assert.equal(await unreadOf(server, jwt1), 2, "tenant 1 unchanged");
        await seesNothing(s1, ["notification:read", "notification:deleted", "notification:all_read"]);
      });

      it("broadcasts, room and user emits with tenantId stay in that tenant", async (t) => {
        const user = uid("u");
        const peer = uid("peer");
        const [t1, t2] = [uid("tenant"), uid("tenant")];
        const [a1, p1, a2, a0] = await Promise.all([
          connect(t, server, mode, token(user, { tenant: t1 })),
          connect(t, server, mode, token(peer, { tenant: t1 })),
          connect(t, server, mode, token(user, { tenant: t2 })),
          connect(t, server, mode, token(user)),
        ]);
        const emit = async (body) => assert.equal((await api(server, "POST", "/v1/emit", body)).status, 202);

        await emit({ event: "news", data: { tenant: 1 }, broadcast: true, tenantId: t1 });
        for (const s of [a1, p1]) assertPayload(await s.inbox.take("news"), { tenant: 1 });
        await Promise.all([a2.inbox.none("news", 300), a0.inbox.none("news", 300)]);

        await emit({ event: "room", data: {}, room: `user:${user}`, tenantId: t2 });
        assertPayload(await a2.inbox.take("room"), {});
        await Promise.all([a1.inbox.none("room", 300), a0.inbox.none("room", 300)]);

        await emit({ event: "direct", data: { n: 1 }, userId: user });
        assertPayload(await a0.inbox.take("direct"), { n: 1 }, "no tenantId is the default tenant");
        await Promise.all([a1.inbox.none("direct", 300), a2.inbox.none("direct", 300)]);

        await emit({ event: "data:updated", data: { type: "x", data: 1 }, userId: user, tenantId: t1 });
        assertPayload(await a1.inbox.take("data:updated"), { type: "x", data: 1 });
        await Promise.all([a2.inbox.none("data:updated", 300), a0.inbox.none("data:updated", 300), p1.inbox.none("data:updated", 300)]);

        const presence = async (tenant) => (await api(server, "GET", `/v1/users/${user}/presence?tenantId=${tenant}`)).body;
        assert.deepEqual(await presence(t1), { userId: user, online: true, sockets: 1 });
        assert.deepEqual(await presence(uid("nobody")), { userId: user, online: false, sockets: 0 });
      });

      // IDOR: user b knows the id of a's notification and tries everything.
      it("another user's notification cannot be read, marked, deleted or listed (not_found), and stays as it was", async (t) => {
        const a = uid("owner");
        const b = uid("intruder");
        const jwtA = token(a);
        const jwtB = token(b);
        const [sa, sb] = await Promise.all([connect(t, server, mode, jwtA), connect(t, server, mode, jwtB)]);
        await greeted(sa, sb);
        const n = await notify(server, a, { title: "secret" });
        await sa.inbox.take("notification:new");
        await sa.inbox.take("notification:unread_count");

        assertFailure(await ack(sb, "notification:mark_read", { notificationId: n.id }), "not_found");
        assertFailure(await ack(sb, "notification:delete", { notificationId: n.id }), "not_found");
        assert.deepEqual(await ack(sb, "notification:mark_all_read"), { success: true, updated: 0 });
        const list = await ack(sb, "notification:list", { limit: 100 });
        assert.deepEqual(list.notifications, []);
        assert.deepEqual(await ack(sb, "notification:unread_count"), { success: true, unreadCount: 0, unseenCount: 0 });
        // The same over HTTP with b's JWT.
        const id = encodeURIComponent(n.id);
        const read = await api(server, "POST", `/v1/me/notifications/${id}/read`, undefined, { auth: jwtB });
        assert.equal(read.status, 404);
        assert.equal(read.body.error.code, "not_found");
        const del = await api(server, "DELETE", `/v1/me/notifications/${id}`, undefined, { auth: jwtB });
        assert.equal(del.status, 404);
        assert.equal(del.body.error.code, "not_found");
        assert.deepEqual(await listAll(server, jwtB), []);
        // Knowing a's cursor does not open a's feed either.
        const page = await api(server, "GET", "/v1/me/notifications?limit=1", undefined, { auth: jwtA });
        const cursorOfA = encodeURIComponent(page.body.nextCursor || "");
        const withCursor = await api(server, "GET", `/v1/me/notifications?before=${cursorOfA}`, undefined, { auth: jwtB });
        assert.ok(withCursor.status === 200 || withCursor.status === 400);
        if (withCursor.status === 200) assert.deepEqual(withCursor.body.notifications, []);

        // The owner's feed is untouched, and the owner was told nothing.
        const feed = await listAll(server, jwtA);
        assert.equal(feed.length, 1);
        assert.deepEqual(feed[0], n);
        assert.equal(await unreadOf(server, jwtA), 1);
        assert.deepEqual(await ack(sa, "notification:unread_count"), { success: true, unreadCount: 1, unseenCount: 1 });
        await seesNothing(sa);
        // b's own error events carry no data of a's notification.
        for (const e of sb.inbox.of("error")) assert.doesNotMatch(JSON.stringify(e), /secret/);
      });
    });
  }
});
