// Types of herald's socket contract (DESIGN.md §1 and §5): the notification,
// the payload of every server → client event, and the payload and ack of
// every client → server event. Every server → client payload carries an
// ISO-8601 timestamp, like the seed's gateway adds to each emit.

/** A stored notification, as herald sends it in events, acks and the HTTP API. */
export interface Notification {
  id: string;
  userId: string;
  tenantId: string;
  /** Per-user position: 1, 2, 3, ... in creation order. */
  seq: number;
  type: string;
  title: string;
  message: string;
  /** Any JSON value the sender gave, or null. */
  data: unknown;
  status: "unread" | "read";
  createdAt: string;
  readAt: string | null;
  /** When the user saw it in the list, on stores that track it. */
  seenAt?: string | null;
  expiresAt: string | null;
  groupKey?: string;
}

/** The `error` member of a failed ack or HTTP answer. */
export interface HeraldErrorBody {
  code: string;
  message: string;
}

/** A failed acknowledgement. */
export interface AckFailure {
  success: false;
  error: HeraldErrorBody;
}

/** An acknowledgement: {success: true, ...T} or a failure. */
export type Ack<T extends object = {}> = ({ success: true } & T) | AckFailure;

interface Stamped {
  timestamp: string;
}

export interface AuthenticatedPayload extends Stamped {
  success: true;
  userId: string;
  email: string;
  socketId: string;
}
export interface NotificationNewPayload extends Stamped {
  notification: Notification;
}
export interface NotificationReadPayload extends Stamped {
  notificationId: string;
  success: boolean;
}
export interface NotificationDeletedPayload extends Stamped {
  notificationId: string;
}
export interface UnreadCountPayload extends Stamped {
  unreadCount: number;
  /** On stores that track seen state. */
  unseenCount?: number;
}
export interface AllReadPayload extends Stamped {
  updated: number;
}
export interface DataUpdatedPayload extends Stamped {
  type: string;
  data: unknown;
}
export interface PresencePayload extends Stamped {
  userId: string;
}
export interface ReplayTruncatedPayload extends Stamped {
  lastSeq: number;
}
export interface AuthExpiredPayload {
  timestamp?: string;
  message?: string;
}
export interface ErrorPayload {
  message: string;
  code?: string;
}

/** Server → client events. */
export interface ServerToClientEvents {
  authenticated: (p: AuthenticatedPayload) => void;
  "notification:new": (p: NotificationNewPayload) => void;
  "notification:read": (p: NotificationReadPayload) => void;
  "notification:all_read": (p: AllReadPayload) => void;
  "notification:deleted": (p: NotificationDeletedPayload) => void;
  "notification:unread_count": (p: UnreadCountPayload) => void;
  "notification:replay_truncated": (p: ReplayTruncatedPayload) => void;
  "data:updated": (p: DataUpdatedPayload) => void;
  "user:online": (p: PresencePayload) => void;
  "user:offline": (p: PresencePayload) => void;
  "auth:expired": (p: AuthExpiredPayload) => void;
  error: (p: ErrorPayload) => void;
}

/** Payload of notification:list. */
export interface ListRequest {
  limit?: number;
  /** The nextCursor of the previous page. */
  before?: string;
  unread?: boolean;
}
export interface ListResult {
  notifications: Notification[];
  /** Empty on the last page. */
  nextCursor: string;
}

/** Client → server events, each answered through its ack. */
export interface ClientToServerEvents {
  "notification:mark_read": (p: { notificationId: string }, ack: (a: Ack) => void) => void;
  "notification:mark_all_read": (p: Record<string, never>, ack: (a: Ack<{ updated: number }>) => void) => void;
  "notification:delete": (p: { notificationId: string }, ack: (a: Ack) => void) => void;
  "notification:list": (p: ListRequest, ack: (a: Ack<ListResult>) => void) => void;
  "notification:unread_count": (p: Record<string, never>, ack: (a: Ack<{ unreadCount: number }>) => void) => void;
  "auth:refresh": (p: { token: string }, ack: (a: Ack) => void) => void;
  /** Same tenant, at most 1,000 watched users per socket. */
  "presence:subscribe": (p: { userIds: string[] }, ack: (a: Ack<{ online: string[] }>) => void) => void;
  "presence:unsubscribe": (p: { userIds: string[] }, ack: (a: Ack) => void) => void;
}

/** The CONNECT auth payload herald reads. */
export interface HandshakeAuth {
  token: string;
  /** The last seq this client saw: herald replays every later notification first. */
  since?: number;
}

/** Machine codes of connect_error data.code. */
export type ConnectErrorCode = "token_missing" | "token_invalid" | "token_expired";
