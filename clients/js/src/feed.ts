// The feed state of one user: the notifications loaded so far (newest
// first), the unread count and the connection state, kept consistent
// whatever order and however often events, replays and pages deliver the
// same notification. Pure logic: no socket, no timers.
import type { Notification } from "./types.js";

/** Connection state of a client, as a page shows it. */
export type ConnectionState = "connecting" | "connected" | "disconnected" | "expired";

/** An immutable view of the feed; a new object after every change. */
export interface FeedSnapshot {
  /** Loaded notifications, highest seq (newest) first, each id once. */
  readonly notifications: readonly Notification[];
  /** herald's unread count: the last one it sent (mark all read sets 0 at once). */
  readonly unreadCount: number;
  /** Highest seq seen, 0 before any: what the client passes as auth.since. */
  readonly lastSeq: number;
  /** Cursor of the next older page; "" when every page is loaded, null before the first. */
  readonly nextCursor: string | null;
  readonly connection: ConnectionState;
}

/** Most deleted ids remembered, so that a late copy does not bring one back. */
export const MAX_TOMBSTONES = 1000;

/**
 * Feed holds a FeedSnapshot and changes it through the operations below,
 * each of which ignores what it already knows: a notification is kept once
 * by id and by seq, a deleted one is not added again, a page merges into
 * what is loaded. subscribe and getSnapshot fit React's useSyncExternalStore.
 */
export class Feed {
  private snap: FeedSnapshot;
  private readonly listeners = new Set<() => void>();
  private readonly tombstones = new Set<string>();

  constructor(lastSeq = 0) {
    this.snap = { notifications: [], unreadCount: 0, lastSeq, nextCursor: null, connection: "connecting" };
  }

  getSnapshot = (): FeedSnapshot => this.snap;

  /** subscribe calls listener after every change; it returns the unsubscribe function. */
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /**
   * add merges notifications (live, replayed or a page) into the list and
   * returns those that were new to it. A copy of a known id replaces the
   * held one (its status may have changed); a known seq under another id,
   * or a deleted id, is dropped.
   */
  add(ns: readonly Notification[]): Notification[] {
    const byId = new Map(this.snap.notifications.map((n) => [n.id, n]));
    const seqs = new Set(this.snap.notifications.map((n) => n.seq));
    const added: Notification[] = [];
    let lastSeq = this.snap.lastSeq;
    let changed = false;
    for (const n of ns) {
      if (this.tombstones.has(n.id)) continue;
      if (n.seq > lastSeq) {
        lastSeq = n.seq;
        changed = true;
      }
      if (byId.has(n.id)) {
        changed ||= !sameNotification(byId.get(n.id)!, n);
        byId.set(n.id, n);
        continue;
      }
      if (seqs.has(n.seq)) continue;
      byId.set(n.id, n);
      seqs.add(n.seq);
      added.push(n);
      changed = true;
    }
    if (!changed) return added;
    const notifications = [...byId.values()].sort((a, b) => b.seq - a.seq);
    this.set({ notifications, lastSeq });
    return added;
  }

  /** page merges a page of notification:list and records its cursor. */
  page(ns: readonly Notification[], nextCursor: string): Notification[] {
    const added = this.add(ns);
    this.set({ nextCursor });
    return added;
  }

  /**
   * restart replaces the loaded list by a fresh first page, as after a
   * reconnect: whatever changed meanwhile (read or deleted elsewhere) is
   * then right again. lastSeq never goes back.
   */
  restart(ns: readonly Notification[], nextCursor: string): void {
    this.set({ notifications: [], nextCursor: null });
    this.page(ns, nextCursor);
  }

  /** markRead sets one notification's status to read. */
  markRead(id: string, readAt = new Date().toISOString()): void {
    const i = this.snap.notifications.findIndex((n) => n.id === id);
    if (i < 0 || this.snap.notifications[i].status === "read") return;
    const notifications = [...this.snap.notifications];
    notifications[i] = { ...notifications[i], status: "read", readAt };
    this.set({ notifications });
  }

  /** markAllRead sets every loaded notification's status to read and the count to 0. */
  markAllRead(readAt = new Date().toISOString()): void {
    const notifications = this.snap.notifications.map((n) => (n.status === "read" ? n : { ...n, status: "read" as const, readAt }));
    this.set({ notifications, unreadCount: 0 });
  }

  /** remove drops a notification and remembers its id as deleted. */
  remove(id: string): void {
    this.tombstones.add(id);
    if (this.tombstones.size > MAX_TOMBSTONES) {
      this.tombstones.delete(this.tombstones.values().next().value as string);
    }
    const notifications = this.snap.notifications.filter((n) => n.id !== id);
    if (notifications.length !== this.snap.notifications.length) this.set({ notifications });
  }

  /** setUnreadCount records the count herald sent. */
  setUnreadCount(unreadCount: number): void {
    if (Number.isInteger(unreadCount) && unreadCount >= 0 && unreadCount !== this.snap.unreadCount) {
      this.set({ unreadCount });
    }
  }

  setConnection(connection: ConnectionState): void {
    if (connection !== this.snap.connection) this.set({ connection });
  }

  private set(change: Partial<FeedSnapshot>): void {
    this.snap = { ...this.snap, ...change };
    for (const l of this.listeners) l();
  }
}

function sameNotification(a: Notification, b: Notification): boolean {
  return a.status === b.status && a.readAt === b.readAt && a.seq === b.seq;
}
