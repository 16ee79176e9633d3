// Gap-free delivery (DESIGN §2): a client that connects with auth.since gets
// every notification it missed, in seq order, none twice, before any live
// one, followed by the current unread count. Restarts of the server are in
// restart.test.mjs.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import {
  MODES, ack, assertNew, assertPayload, connect, delay, listAll, notify, startHerald, token, uid,
} from "./harness.mjs";

let server;
before(async () => {
  server = await startHerald();
});

// feedEvents returns the names of the feed events a socket received, in
// order (presence events of other users are left out).
const feedEvents = (s) => s.inbox.names().filter((e) => !e.startsWith("user:"));

describe("replay", { concurrency: true, timeout: 30000 }, () => {
  for (const mode of MODES) {
    describe(`over ${mode.name}`, () => {
      it("a user who never connected gets what was stored for them (since=0, and through list)", async (t) => {
        const user = uid("new");
        const jwt = token(user);
        const ns = [];
        for (let i = 0; i < 3; i++) ns.push(await notify(server, user, { title: `stored ${i}` }));
        assert.deepEqual(ns.map((n) => n.seq), [1, 2, 3]);

        const s = await connect(t, server, mode, jwt, { auth: { since: 0 } });
        for (const n of ns) assertNew(await s.inbox.take("notification:new"), n);
        assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 3, unseenCount: 3 });
        assert.deepEqual(feedEvents(s), ["authenticated", "notification:new", "notification:new", "notification:new", "notification:unread_count"]);

        const list = await ack(s, "notification:list", {});
        assert.deepEqual(list.notifications, [...ns].reverse());
        assert.deepEqual(await listAll(server, jwt), [...ns].reverse());
      });

      it("without auth.since nothing is replayed, only the count", async (t) => {
        const user = uid("nosince");
        await notify(server, user);
        const s = await connect(t, server, mode, token(user));
        assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 1, unseenCount: 1 });
        await s.inbox.none("notification:new", 300);
        assert.deepEqual(feedEvents(s), ["authenticated", "notification:unread_count"]);
      });

      it("what was created while the client was away arrives on reconnect in order, then the count, then live ones", async (t) => {
        const user = uid("away");
        const jwt = token(user);
        const first = await connect(t, server, mode, jwt, { auth: { since: 0 } });
        await first.inbox.take("notification:unread_count");
        const n1 = await notify(server, user);
        assertNew(await first.inbox.take("notification:new"), n1);
        const lastSeen = n1.seq;
        first.disconnect();

        const missed = [];
        for (let i = 0; i < 5; i++) missed.push(await notify(server, user, { title: `missed ${i}` }));
        // Mark one of the missed ones read meanwhile: it is still replayed
        // (as read), and the count after the replay is exact.
        const other = await connect(t, server, mode, jwt);
        assert.deepEqual(await ack(other, "notification:mark_read", { notificationId: missed[1].id }), { success: true });
        missed[1] = (await ack(other, "notification:list", { limit: 100 })).notifications.find((n) => n.id === missed[1].id);
        assert.equal(missed[1].status, "read");
        other.disconnect();

        const s = await connect(t, server, mode, jwt, { auth: { since: lastSeen } });
        for (const n of missed) assertNew(await s.inbox.take("notification:new"), n);
        assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 5, unseenCount: 6 });
        const live = await notify(server, user, { title: "live" });
        assertNew(await s.inbox.take("notification:new"), live);
        assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 6, unseenCount: 7 });
        assert.deepEqual(feedEvents(s), [
          "authenticated",
          ...missed.map(() => "notification:new"),
          "notification:unread_count",
          "notification:new",
          "notification:unread_count",
        ]);
        assert.deepEqual(s.inbox.of("notification:new").map((d) => d.notification.seq), [2, 3, 4, 5, 6, 7]);
      });

      it("since as a numeric string works; since past the end replays nothing", async (t) => {
        const user = uid("str");
        const jwt = token(user);
        const ns = [await notify(server, user), await notify(server, user)];
        const s = await connect(t, server, mode, jwt, { auth: { since: "1" } });
        assertNew(await s.inbox.take("notification:new"), ns[1]);
        assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 2, unseenCount: 2 });
        const s2 = await connect(t, server, mode, jwt, { auth: { since: 99 } });
        assertPayload(await s2.inbox.take("notification:unread_count"), { unreadCount: 2, unseenCount: 2 });
        await s2.inbox.none("notification:new", 200);
      });

      // Live creates race the replay: some are stored before the replay
      // reads the store, some after; some are emitted while the socket is
      // held back for its replay, some just after. Whatever the
      // interleaving, the client sees every seq exactly once, in order, and
      // no count behind the notifications it already has.
      it("creates racing the reconnect: every seq once, in order, no count going backwards", async (t) => {
        // 4 users at once, 4 rounds each: the races are narrow.
        await Promise.all(Array.from({ length: 4 }, async () => {
          for (let round = 0; round < 4; round++) {
            const user = uid("race");
            for (let i = 0; i < 3; i++) await notify(server, user);
            let creating = true;
            const creates = (async () => {
              while (creating) await notify(server, user);
            })();
            await delay(Math.random() * 40);
            const s = await connect(t, server, mode, token(user), { auth: { since: 0 } });
            await delay(100);
            creating = false;
            await creates;
            const last = await ack(s, "notification:unread_count");
            await s.inbox.take("notification:new", { where: (d) => d.notification.seq === last.unreadCount });
            await delay(200); // a duplicate would come by now
            const seqs = s.inbox.of("notification:new").map((d) => d.notification.seq);
            assert.deepEqual(seqs, Array.from({ length: last.unreadCount }, (_, i) => i + 1), "every seq once, in order");
            let delivered = 0;
            const timeline = [];
            for (const r of s.inbox.all) {
              if (r.event === "notification:new") timeline.push(++delivered);
              if (r.event !== "notification:unread_count") continue;
              timeline.push(`count ${r.data.unreadCount}`);
              assert.ok(r.data.unreadCount >= delivered, `a count behind what arrived: ${timeline.join(", ")}`);
            }
            assert.equal(s.inbox.of("notification:unread_count").at(-1).unreadCount, last.unreadCount, "the last count is exact");
            s.disconnect();
          }
        }));
      });
    });
  }
});
