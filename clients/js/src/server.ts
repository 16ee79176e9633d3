// HeraldService: herald's HTTP API for Node backends, under the method
// names of the seed's WebSocketService, so that a NestJS service can swap
// its injected WebSocketService for it. Unlike the seed's in-process
// gateway, every call crosses the network: the emit methods resolve when
// herald took the event (true) or could not (false, after retries, with the
// error passed to onError) and never reject, so the seed's fire-and-forget
// calls stay safe; the queries resolve with herald's answer and must be
// awaited.
import type { HeraldErrorBody, Notification } from "./types.js";
import { HeraldError } from "./client.js";

export interface HeraldServiceOptions {
  /** herald's origin, e.g. "http://127.0.0.1:3000". */
  baseUrl: string;
  /** HERALD_API_KEY. */
  apiKey: string;
  /** Tenant of every call that does not name one; empty by default. */
  tenantId?: string;
  /** Attempts per call for network errors, 429 and 5xx (default 3). */
  attempts?: number;
  /** Deadline of each attempt (default 10 s). */
  timeoutMs?: number;
  /** Pause before the second attempt, doubled for each next one (default 100 ms). */
  backoffMs?: number;
  /** Receives the failures of emits, which never reject. */
  onError?: (err: Error) => void;
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch;
}

/** Input of createNotification: exactly one of userId and userIds. */
export interface CreateNotificationInput {
  userId?: string;
  userIds?: string[];
  tenantId?: string;
  type: string;
  title: string;
  message: string;
  data?: Record<string, unknown>;
  /** Makes retries safe: a repeat returns the stored notification. Made up per call when absent. */
  idempotencyKey?: string;
  /** RFC 3339. */
  expiresAt?: string;
  groupKey?: string;
}

export interface Presence {
  userId: string;
  online: boolean;
  sockets: number;
}

export interface Stats {
  connectedUsers: number;
  sockets: number;
  /** Live nodes (1 outside cluster mode). */
  nodes: number;
}

type Target = { userId: string } | { userIds: string[] } | { room: string } | { broadcast: true };

/** HeraldService calls one herald's HTTP API with the backend API key. */
export class HeraldService {
  private readonly o: Required<Omit<HeraldServiceOptions, "onError" | "tenantId">> & Pick<HeraldServiceOptions, "onError" | "tenantId">;

  constructor(opts: HeraldServiceOptions) {
    this.o = { attempts: 3, timeoutMs: 10_000, backoffMs: 100, fetch: globalThis.fetch, ...opts, baseUrl: opts.baseUrl.replace(/\/+$/, "") };
  }

  // ------------------------------------------------------------ the seed's emits

  /** notification:new {notification} to every socket of the user (nothing is stored: see createNotification). */
  emitNotificationToUser(userId: string, notification: unknown): Promise<boolean> {
    return this.emit({ userId }, "notification:new", { notification });
  }

  emitNotificationToUsers(userIds: string[], notification: unknown): Promise<boolean> {
    return this.emit({ userIds }, "notification:new", { notification });
  }

  emitUnreadCountUpdate(userId: string, unreadCount: number): Promise<boolean> {
    return this.emit({ userId }, "notification:unread_count", { unreadCount });
  }

  emitNotificationDeleted(userId: string, notificationId: string): Promise<boolean> {
    return this.emit({ userId }, "notification:deleted", { notificationId });
  }

  emitDataUpdated(userId: string, dataType: string, data: unknown): Promise<boolean> {
    return this.emit({ userId }, "data:updated", { type: dataType, data });
  }

  /** event to every socket of the tenant. */
  broadcast(event: string, data: Record<string, unknown>): Promise<boolean> {
    return this.emit({ broadcast: true }, event, data);
  }

  emitToRoom(room: string, event: string, data: Record<string, unknown>): Promise<boolean> {
    return this.emit({ room }, event, data);
  }

  // ------------------------------------------------------------ the seed's queries

  async isUserConnected(userId: string): Promise<boolean> {
    return (await this.presence(userId)).online;
  }

  async getConnectedUsersCount(): Promise<number> {
    return (await this.stats()).connectedUsers;
  }

  async getUserSocketCount(userId: string): Promise<number> {
    return (await this.presence(userId)).sockets;
  }

  // ------------------------------------------------------------ herald's own

  /**
   * createNotification stores one notification per user, then herald emits
   * notification:new and the new unread count to the user's sockets. It is
   * retried with the same idempotency key, so a retry never stores twice.
   */
  async createNotification(input: CreateNotificationInput): Promise<Notification[]> {
    const body = { tenantId: this.o.tenantId, ...input, idempotencyKey: input.idempotencyKey ?? randomKey() };
    const res = await this.request<{ notifications: Notification[] }>("POST", "/v1/notifications", body);
    return res.notifications;
  }

  /** deleteNotification deletes any user's notification (404 not_found when there is none). */
  async deleteNotification(id: string): Promise<void> {
    await this.request("DELETE", `/v1/notifications/${encodeURIComponent(id)}`);
  }

  presence(userId: string, tenantId = this.o.tenantId): Promise<Presence> {
    const q = tenantId ? `?tenantId=${encodeURIComponent(tenantId)}` : "";
    return this.request<Presence>("GET", `/v1/users/${encodeURIComponent(userId)}/presence${q}`);
  }

  stats(): Promise<Stats> {
    return this.request<Stats>("GET", "/v1/stats");
  }

  /** emit sends event with data to target; see the class comment for its result. */
  async emit(target: Target, event: string, data: unknown, tenantId = this.o.tenantId): Promise<boolean> {
    try {
      await this.request("POST", "/v1/emit", { event, data, tenantId, ...target });
      return true;
    } catch (err) {
      (this.o.onError ?? ((e: Error) => console.error("herald emit:", e.message)))(err as Error);
      return false;
    }
  }

  /**
   * request makes one API call, retried on network errors, timeouts, 429
   * and 5xx with the same body; any other error answer rejects at once
   * with a HeraldError carrying herald's code and status.
   */
  async request<T = void>(method: string, path: string, body?: unknown): Promise<T> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    let last: Error = new Error("no attempt");
    for (let attempt = 0; attempt < this.o.attempts; attempt++) {
      if (attempt > 0) await sleep(this.o.backoffMs * 2 ** (attempt - 1));
      let res: Response;
      try {
        res = await this.o.fetch(this.o.baseUrl + path, {
          method,
          headers: { Authorization: `Bearer ${this.o.apiKey}`, ...(text ? { "Content-Type": "application/json" } : {}) },
          body: text,
          signal: AbortSignal.timeout(this.o.timeoutMs),
        });
      } catch (err) {
        last = err instanceof Error ? err : new Error(String(err));
        continue;
      }
      const raw = await res.text();
      if (res.ok) return (raw ? JSON.parse(raw) : undefined) as T;
      last = toError(res.status, raw);
      if (res.status !== 429 && res.status < 500) throw last;
    }
    throw last;
  }
}

function toError(status: number, raw: string): HeraldError {
  try {
    const e = (JSON.parse(raw) as { error?: HeraldErrorBody }).error;
    if (e?.code) return new HeraldError(e.code, e.message, status);
  } catch {
    // not JSON: fall through
  }
  return new HeraldError("internal", `HTTP ${status}`, status);
}

function randomKey(): string {
  return globalThis.crypto.randomUUID();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
