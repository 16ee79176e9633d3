// HeraldClient: a browser (or Node) client of herald's socket on the real
// socket.io-client. It keeps a Feed in step with the server, reconnects
// without gaps (auth.since on every handshake), and refreshes its token
// before it expires.
import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import { Feed, type FeedSnapshot } from "./feed.js";
import { decodeClaims, refreshDelay, DEFAULT_REFRESH_LEEWAY_MS } from "./jwt.js";
import type { Ack, ClientToServerEvents, HandshakeAuth, Notification, ServerToClientEvents } from "./types.js";

export type HeraldSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Where a client keeps the last seq it saw, per user. */
export interface SeqStorage {
  get(key: string): number | null;
  set(key: string, seq: number): void;
}

/** memoryStorage keeps seqs for the life of the page. */
export function memoryStorage(): SeqStorage {
  const m = new Map<string, number>();
  return { get: (k) => m.get(k) ?? null, set: (k, v) => void m.set(k, v) };
}

/** webStorage keeps seqs in localStorage (or another Storage), so a reload replays what it missed. */
export function webStorage(s: Storage = globalThis.localStorage): SeqStorage {
  return {
    get: (k) => {
      const v = Number(s.getItem(k));
      return Number.isInteger(v) && v > 0 ? v : null;
    },
    set: (k, v) => {
      try {
        s.setItem(k, String(v));
      } catch {
        // A full or disabled storage only costs a longer replay.
      }
    },
  };
}

export interface HeraldClientOptions {
  /** herald's origin, e.g. "http://localhost:3000". */
  url: string;
  /** The user's JWT. */
  token: string;
  /**
   * refreshToken is called before the token expires and resolves with a
   * fresh token of the same user, which the client sends with auth:refresh
   * and uses for later reconnects. Without it the socket is disconnected
   * at exp (auth:expired) and the state becomes "expired".
   */
  refreshToken?: () => Promise<string>;
  /** Refresh this long before exp at most (default 60 s; a quarter of a short token's life). */
  refreshLeewayMs?: number;
  /** Where the last seq per user is kept; memoryStorage() by default. */
  storage?: SeqStorage;
  /** Notifications per notification:list page (default 20). */
  pageSize?: number;
  /** Deadline of each ack (default 10 s). */
  ackTimeoutMs?: number;
  /**
   * Called once for every notification:new that is new to this client,
   * live or replayed after a reconnect (a toast, say); not for pages.
   */
  onNotification?: (n: Notification) => void;
  /** Called with failures the client cannot report through a promise (refresh, reload). */
  onError?: (err: Error) => void;
  /** Extra socket.io-client options (transports, withCredentials, ...). */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
}

/** HeraldError is a failed ack or HTTP answer, with herald's error code. */
export class HeraldError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "HeraldError";
  }
}

/** seqKey is the storage key of a user's last seq. */
export function seqKey(tenantId: string | undefined, userId: string): string {
  return `herald:lastSeq:${tenantId ?? ""}:${userId}`;
}

/**
 * HeraldClient connects on construction. feed holds the state to render;
 * the methods change it on the server, and every socket of the user
 * (other tabs included) learns of the change through herald's events.
 */
export class HeraldClient {
  readonly feed: Feed;
  readonly socket: HeraldSocket;
  private token: string;
  private readonly opts: HeraldClientOptions;
  private readonly storage: SeqStorage;
  private readonly key: string;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private connectedOnce = false;
  private closed = false;

  constructor(opts: HeraldClientOptions) {
    this.opts = opts;
    this.token = opts.token;
    this.storage = opts.storage ?? memoryStorage();
    const claims = decodeClaims(opts.token);
    this.key = seqKey(claims.tenant_id, claims.sub ?? "");
    this.feed = new Feed(this.storage.get(this.key) ?? 0);
    this.socket = io(opts.url, {
      path: "/socket.io/",
      ...opts.socketOptions,
      // Called on every (re)connect: the current token and the last seq seen.
      auth: (cb) => cb(this.handshakeAuth() as unknown as object),
    }) as HeraldSocket;
    this.listen();
    this.scheduleRefresh();
  }

  /** handshakeAuth is the CONNECT payload of the next (re)connect. */
  handshakeAuth(): HandshakeAuth {
    const since = this.feed.getSnapshot().lastSeq;
    return since > 0 ? { token: this.token, since } : { token: this.token };
  }

  get snapshot(): FeedSnapshot {
    return this.feed.getSnapshot();
  }

  private listen(): void {
    const s = this.socket;
    s.on("connect", () => {
      this.feed.setConnection("connected");
      // First connect: load the first page. Later ones: reload it, so that
      // reads and deletes made while away are right too (missed new ones
      // are also replayed, and deduplicated).
      const first = !this.connectedOnce;
      this.connectedOnce = true;
      this.list({ limit: this.pageSize })
        .then((p) => {
          if (first) this.feed.page(p.notifications, p.nextCursor);
          else this.feed.restart(p.notifications, p.nextCursor);
          this.saveSeq();
        })
        .catch((err) => this.report(err));
    });
    s.on("disconnect", () => {
      if (this.feed.getSnapshot().connection !== "expired") this.feed.setConnection("disconnected");
    });
    s.on("connect_error", (err: Error & { data?: { code?: string } }) => {
      if (err.data?.code === "token_expired") this.feed.setConnection("expired");
      else this.feed.setConnection("disconnected");
    });
    s.on("notification:new", (p) => {
      const added = this.feed.add([p.notification]);
      this.saveSeq();
      for (const n of added) this.opts.onNotification?.(n);
    });
    s.on("notification:read", (p) => this.feed.markRead(p.notificationId, p.timestamp));
    s.on("notification:all_read", (p) => this.feed.markAllRead(p.timestamp));
    s.on("notification:deleted", (p) => this.feed.remove(p.notificationId));
    s.on("notification:unread_count", (p) => this.feed.setUnreadCount(p.unreadCount));
    s.on("notification:replay_truncated", () => {
      // Older missed notifications are in the feed: load the first page again.
      this.list({ limit: this.pageSize })
        .then((p) => this.feed.restart(p.notifications, p.nextCursor))
        .catch((err) => this.report(err));
    });
    s.on("auth:expired", () => this.feed.setConnection("expired"));
  }

  private get pageSize(): number {
    return this.opts.pageSize ?? 20;
  }

  /** saveSeq keeps the feed's last seq for the next handshake, this page's or a later one's. */
  private saveSeq(): void {
    const last = this.feed.getSnapshot().lastSeq;
    if (last > 0 && last !== this.storage.get(this.key)) this.storage.set(this.key, last);
  }

  private report(err: unknown): void {
    this.opts.onError?.(err instanceof Error ? err : new Error(String(err)));
  }

  private async ack<R extends object>(event: keyof ClientToServerEvents, payload: object): Promise<R> {
    const s = this.socket.timeout(this.opts.ackTimeoutMs ?? 10_000) as unknown as { emitWithAck(e: string, p: object): Promise<Ack<R>> };
    const res = await s.emitWithAck(event, payload);
    if (!res || res.success !== true) {
      const e = (res as { error?: { code?: string; message?: string } })?.error;
      throw new HeraldError(e?.code ?? "internal", e?.message ?? `${event} failed`);
    }
    return res as R;
  }

  /** list asks for a page of the feed (newest first) without changing the state. */
  list(req: { limit?: number; before?: string; unread?: boolean } = {}) {
    return this.ack<{ notifications: Notification[]; nextCursor: string }>("notification:list", req);
  }

  /** loadMore loads the next older page into the feed; false when there is none. */
  async loadMore(): Promise<boolean> {
    const cursor = this.feed.getSnapshot().nextCursor;
    if (cursor === "") return false;
    const p = await this.list(cursor ? { limit: this.pageSize, before: cursor } : { limit: this.pageSize });
    this.feed.page(p.notifications, p.nextCursor);
    this.saveSeq();
    return true;
  }

  async markRead(notificationId: string): Promise<void> {
    await this.ack("notification:mark_read", { notificationId });
    this.feed.markRead(notificationId);
  }

  async markAllRead(): Promise<number> {
    const r = await this.ack<{ updated: number }>("notification:mark_all_read", {});
    this.feed.markAllRead();
    return r.updated;
  }

  async delete(notificationId: string): Promise<void> {
    await this.ack("notification:delete", { notificationId });
    this.feed.remove(notificationId);
  }

  async unreadCount(): Promise<number> {
    const r = await this.ack<{ unreadCount: number }>("notification:unread_count", {});
    this.feed.setUnreadCount(r.unreadCount);
    return r.unreadCount;
  }

  /** subscribePresence watches users of the same tenant; resolves with those online now. */
  async subscribePresence(userIds: string[]): Promise<string[]> {
    return (await this.ack<{ online: string[] }>("presence:subscribe", { userIds })).online;
  }

  async unsubscribePresence(userIds: string[]): Promise<void> {
    await this.ack("presence:unsubscribe", { userIds });
  }

  /**
   * setToken sends a fresh token of the same user with auth:refresh (when
   * connected) and uses it for every later reconnect.
   */
  async setToken(token: string): Promise<void> {
    this.token = token;
    if (this.socket.connected) await this.ack("auth:refresh", { token });
    this.scheduleRefresh();
  }

  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    const refresh = this.opts.refreshToken;
    if (!refresh || this.closed) return;
    const delay = refreshDelay(decodeClaims(this.token), Date.now(), this.opts.refreshLeewayMs ?? DEFAULT_REFRESH_LEEWAY_MS);
    if (delay === null) return;
    this.refreshTimer = setTimeout(() => {
      refresh()
        .then((t) => this.setToken(t))
        .catch((err) => {
          this.report(err);
          // Try again shortly while the token is still valid.
          const exp = decodeClaims(this.token).exp;
          if (!this.closed && exp && exp * 1000 > Date.now() + 1000) {
            this.refreshTimer = setTimeout(() => this.scheduleRefresh(), 1000);
          }
        });
    }, delay);
  }

  /** close disconnects for good and stops the refresh timer. */
  close(): void {
    this.closed = true;
    clearTimeout(this.refreshTimer);
    this.socket.disconnect();
    this.feed.setConnection("disconnected");
  }
}
