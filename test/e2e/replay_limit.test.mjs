// A replay stops at --replay-limit notifications and says where it stopped
// (notification:replay_truncated), so that the client pages the rest.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { WEBSOCKET, assertNew, assertPayload, assertTimestamp, connect, notify, startHerald, token, uid } from "./harness.mjs";

let server;
before(async () => {
  server = await startHerald({ flags: ["--replay-limit", "3"] });
});

describe("replay limit", { timeout: 30000 }, () => {
  it("replays the oldest missed notifications up to the limit, then reports where it stopped", async (t) => {
    const user = uid("limit");
    const ns = [];
    for (let i = 0; i < 5; i++) ns.push(await notify(server, user, { title: `n${i}` }));
    const s = await connect(t, server, WEBSOCKET, token(user), { auth: { since: 0 } });
    for (const n of ns.slice(0, 3)) assertNew(await s.inbox.take("notification:new"), n);
    const trunc = await s.inbox.take("notification:replay_truncated");
    assert.equal(trunc.lastSeq, ns[2].seq);
    assertTimestamp(trunc.timestamp);
    assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 5, unseenCount: 5 });
    await s.inbox.none("notification:new", 300);
  });

  it("does not report a truncation when everything missed fits", async (t) => {
    const user = uid("fits");
    const ns = [];
    for (let i = 0; i < 3; i++) ns.push(await notify(server, user, { title: `n${i}` }));
    const s = await connect(t, server, WEBSOCKET, token(user), { auth: { since: 0 } });
    for (const n of ns) assertNew(await s.inbox.take("notification:new"), n);
    assertPayload(await s.inbox.take("notification:unread_count"), { unreadCount: 3, unseenCount: 3 });
    await s.inbox.none("notification:replay_truncated", 300);
  });
});
