// HeraldClient against a real herald: feed state, gap-free reconnects with
// auth.since, and token refresh through auth:refresh.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeraldClient, memoryStorage, seqKey, type Notification } from "../../src/index.js";
import { HeraldService } from "../../src/server.js";
import { API_KEY, startHerald, token, uid, until, type Herald } from "./herald.js";

let herald: Herald;
let service: HeraldService;
const clients: HeraldClient[] = [];
beforeAll(async () => {
  herald = await startHerald();
  service = new HeraldService({ baseUrl: herald.url, apiKey: API_KEY });
});
afterAll(async () => {
  clients.forEach((c) => c.close());
  await herald?.stop();
});

function client(opts: Partial<ConstructorParameters<typeof HeraldClient>[0]> & { token: string }) {
  const c = new HeraldClient({ url: herald.url, pageSize: 2, socketOptions: { transports: ["websocket"], forceNew: true, reconnectionDelay: 50, reconnectionDelayMax: 200 }, ...opts });
  clients.push(c);
  return c;
}
const connected = (c: HeraldClient) => until("connected", () => c.snapshot.connection === "connected");
const notify = (user: string, title: string) => service.createNotification({ userId: user, type: "info", title, message: "" }).then((ns) => ns[0]);

describe("HeraldClient", () => {
  it("loads pages, keeps two clients of one user in step", async () => {
    const user = uid();
    for (let i = 1; i <= 3; i++) await notify(user, `old ${i}`);
    const a = client({ token: token(user) });
    const b = client({ token: token(user) });
    await connected(a);
    await connected(b);
    await until("first page", () => a.snapshot.notifications.length === 2 && a.snapshot.unreadCount === 3);
    expect(await a.loadMore()).toBe(true);
    await until("second page", () => a.snapshot.notifications.length === 3);
    expect(a.snapshot.nextCursor).toBe("");
    expect(await a.loadMore()).toBe(false);
    expect(a.snapshot.notifications.map((n) => n.title)).toEqual(["old 3", "old 2", "old 1"]);

    const live = await notify(user, "live");
    await until("live on both", () => a.snapshot.notifications[0]?.id === live.id && b.snapshot.notifications[0]?.id === live.id);
    await until("count 4 on b", () => b.snapshot.unreadCount === 4);
    await a.markRead(live.id);
    await until("read on b", () => b.snapshot.notifications[0].status === "read" && b.snapshot.unreadCount === 3);
    await a.delete(live.id);
    await until("deleted on b", () => !b.snapshot.notifications.some((n) => n.id === live.id));
    expect(await b.markAllRead()).toBe(3); // old 1 to 3, although b loaded only old 3 and old 2
    await until("all read on a", () => a.snapshot.unreadCount === 0 && a.snapshot.notifications.every((n) => n.status === "read"));
    expect(await a.unreadCount()).toBe(0);
    await expect(a.markRead("no-such-id")).rejects.toMatchObject({ code: "not_found" });
  });

  it("passes auth.since on every reconnect and gets what it missed, once, in order", async () => {
    const user = uid();
    const storage = memoryStorage();
    const seen: Notification[] = [];
    const c = client({ token: token(user), storage, onNotification: (n) => seen.push(n) });
    await connected(c);
    const first = await notify(user, "before");
    await until("first", () => seen.length === 1);
    expect(storage.get(seqKey(undefined, user))).toBe(first.seq);

    c.socket.disconnect();
    const missed = [await notify(user, "m1"), await notify(user, "m2"), await notify(user, "m3")];
    expect(c.handshakeAuth().since).toBe(first.seq);
    c.socket.connect();
    await until("replayed", () => seen.length === 4);
    expect(seen.slice(1).map((n) => n.id)).toEqual(missed.map((n) => n.id));
    await until("list reloaded", () => c.snapshot.notifications.length === 2); // first page of 2 after a reconnect
    expect(c.snapshot.notifications.map((n) => n.title)).toEqual(["m3", "m2"]);
    expect(c.snapshot.lastSeq).toBe(missed[2].seq);
    await until("count", () => c.snapshot.unreadCount === 4);

    // A network drop: the engine closes, socket.io-client reconnects by itself.
    (c.socket.io as unknown as { engine: { close(): void } }).engine.close();
    await until("disconnected", () => c.snapshot.connection !== "connected", 5000);
    const after = await notify(user, "after drop");
    await connected(c);
    await until("after drop", () => seen.some((n) => n.id === after.id));
    expect(new Set(seen.map((n) => n.id)).size).toBe(seen.length);

    // A new client of the same user starts from the stored seq: nothing old is replayed.
    const seen2: Notification[] = [];
    const d = client({ token: token(user), storage, onNotification: (n) => seen2.push(n) });
    expect(d.handshakeAuth().since).toBe(after.seq);
    await connected(d);
    await until("first page", () => d.snapshot.notifications.length === 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(seen2).toEqual([]);
  });

  it("refreshes its token before exp through auth:refresh and stays connected", async () => {
    const user = uid();
    let refreshes = 0;
    const c = client({
      token: token(user, 3), // expires in 3 s; refreshed a quarter of its life before
      refreshToken: async () => {
        refreshes++;
        return token(user, 3600);
      },
    });
    await connected(c);
    await until("refreshed", () => refreshes === 1, 5000);
    await new Promise((r) => setTimeout(r, 3000)); // past the first token's exp
    expect(c.snapshot.connection).toBe("connected");
    const n = await notify(user, "still here");
    await until("delivered", () => c.snapshot.notifications.some((x) => x.id === n.id));

    // Without a refresh the socket is told auth:expired and disconnected.
    const e = client({ token: token(uid(), 2) });
    await connected(e);
    await until("expired", () => e.snapshot.connection === "expired", 6000);
  });
});
