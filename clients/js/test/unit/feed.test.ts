import { describe, expect, it } from "vitest";
import { Feed, MAX_TOMBSTONES } from "../../src/feed.js";
import type { Notification } from "../../src/types.js";

function n(seq: number, over: Partial<Notification> = {}): Notification {
  return {
    id: `n${seq}`,
    userId: "u1",
    tenantId: "",
    seq,
    type: "info",
    title: `t${seq}`,
    message: "m",
    data: null,
    status: "unread",
    createdAt: "2026-01-01T00:00:00.000Z",
    readAt: null,
    expiresAt: null,
    ...over,
  };
}

const seqs = (f: Feed) => f.getSnapshot().notifications.map((x) => x.seq);

describe("Feed", () => {
  it("keeps notifications newest first, each id once", () => {
    const f = new Feed();
    expect(f.add([n(1), n(3)]).map((x) => x.seq)).toEqual([1, 3]);
    expect(f.add([n(2), n(3)]).map((x) => x.seq)).toEqual([2]);
    expect(seqs(f)).toEqual([3, 2, 1]);
    expect(f.getSnapshot().lastSeq).toBe(3);
  });

  it("drops a second id under a seq it holds", () => {
    const f = new Feed();
    f.add([n(1)]);
    expect(f.add([n(1, { id: "other" })])).toEqual([]);
    expect(f.getSnapshot().notifications.map((x) => x.id)).toEqual(["n1"]);
  });

  it("takes a newer copy of a held id (its status), without reporting it as new", () => {
    const f = new Feed();
    f.add([n(1)]);
    expect(f.add([n(1, { status: "read", readAt: "2026-01-01T00:00:01.000Z" })])).toEqual([]);
    expect(f.getSnapshot().notifications[0].status).toBe("read");
  });

  it("does not notify listeners when nothing changed", () => {
    const f = new Feed();
    f.add([n(1)]);
    let calls = 0;
    f.subscribe(() => calls++);
    f.add([n(1)]);
    f.setUnreadCount(0);
    expect(calls).toBe(0);
    f.setUnreadCount(4);
    expect(calls).toBe(1);
  });

  it("never brings back a deleted id, and bounds what it remembers", () => {
    const f = new Feed();
    f.add([n(1), n(2)]);
    f.remove("n1");
    expect(f.add([n(1)])).toEqual([]);
    expect(seqs(f)).toEqual([2]);
    for (let i = 0; i < MAX_TOMBSTONES; i++) f.remove(`x${i}`);
    expect(f.add([n(1)]).length).toBe(1); // the oldest tombstone was forgotten
  });

  it("marks one and all read", () => {
    const f = new Feed();
    f.add([n(1), n(2)]);
    f.setUnreadCount(2);
    f.markRead("n1", "2026-01-01T00:00:02.000Z");
    expect(f.getSnapshot().notifications.find((x) => x.id === "n1")).toMatchObject({ status: "read", readAt: "2026-01-01T00:00:02.000Z" });
    f.markAllRead();
    expect(f.getSnapshot().notifications.every((x) => x.status === "read")).toBe(true);
    expect(f.getSnapshot().unreadCount).toBe(0);
  });

  it("pages merge and record the cursor; restart replaces the list but not lastSeq", () => {
    const f = new Feed();
    f.page([n(5), n(4)], "c1");
    f.page([n(4), n(3)], "");
    expect(seqs(f)).toEqual([5, 4, 3]);
    expect(f.getSnapshot().nextCursor).toBe("");
    f.restart([n(5, { status: "read" })], "c2");
    expect(seqs(f)).toEqual([5]);
    expect(f.getSnapshot()).toMatchObject({ lastSeq: 5, nextCursor: "c2" });
  });

  it("rejects an unread count that is not a non-negative integer", () => {
    const f = new Feed();
    f.setUnreadCount(-1);
    f.setUnreadCount(1.5);
    expect(f.getSnapshot().unreadCount).toBe(0);
  });
});
