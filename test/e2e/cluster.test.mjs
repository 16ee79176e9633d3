// Several nodes on one PostgreSQL database (the PostgreSQL run of the
// suite only): creates that race through both nodes' APIs give every user
// the seqs 1..N with no gap or duplicate, and a client of either node that
// connects with auth.since=0 receives all N once, in order.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MODES, PG, api, connect, listAll, startHerald, tempDB, token, uid } from "./harness.mjs";

describe("two nodes on one PostgreSQL", { skip: PG ? false : "the SQLite run has one node", timeout: 60000 }, () => {
  it("racing creates through both nodes: seqs 1..N per user; since=0 on either node replays all N once, in order", async (t) => {
    const db = tempDB();
    const nodes = [await startHerald({ db }), await startHerald({ db })];
    const users = [uid("race"), uid("race"), uid("race")];
    const calls = [];
    for (let i = 0; i < 60; i++) {
      const node = nodes[i % 2];
      // Every fourth call is one create for all three users.
      const target = i % 4 === 3 ? { userIds: users } : { userId: users[i % 3] };
      calls.push(api(node, "POST", "/v1/notifications", { ...target, type: "race", title: `call ${i}`, message: "m" }));
    }
    const answers = await Promise.all(calls);
    const want = new Map(users.map((u) => [u, 0]));
    for (const res of answers) {
      assert.equal(res.status, 201, JSON.stringify(res.body));
      for (const n of res.body.notifications) want.set(n.userId, want.get(n.userId) + 1);
    }
    for (const user of users) {
      const n = want.get(user);
      const range = Array.from({ length: n }, (_, i) => i + 1);
      const feed = await listAll(nodes[0], token(user));
      assert.deepEqual(feed.map((x) => x.seq).reverse(), range, `${user}: seqs 1..${n} once each`);
      for (const [i, node] of nodes.entries()) {
        const s = await connect(t, node, MODES[i], token(user), { auth: { since: 0 } });
        await s.inbox.takeThrough("notification:unread_count", { where: (d) => d.unreadCount === n });
        const seqs = s.inbox.of("notification:new").map((d) => d.notification.seq);
        assert.deepEqual(seqs, range, `${user} on node ${i}: all ${n} once, in order`);
      }
    }
  });
});
