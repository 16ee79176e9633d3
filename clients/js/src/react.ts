// useNotifications: the feed of the signed-in user as React state.
import { useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { HeraldClient, type HeraldClientOptions } from "./client.js";
import { decodeClaims } from "./jwt.js";
import type { FeedSnapshot } from "./feed.js";

const EMPTY: FeedSnapshot = { notifications: [], unreadCount: 0, lastSeq: 0, nextCursor: null, connection: "connecting" };
const noSubscribe = () => () => {};
const emptySnapshot = () => EMPTY;

export interface UseNotifications extends FeedSnapshot {
  /** The client, once created (null during the first render). */
  client: HeraldClient | null;
  /** True while older pages remain. */
  hasMore: boolean;
  loadMore: () => Promise<boolean>;
  markRead: (id: string) => Promise<void>;
  markAllRead: () => Promise<number>;
  remove: (id: string) => Promise<void>;
}

/**
 * useNotifications connects a HeraldClient while the component is mounted
 * and returns its feed. A new client is made when url or the token's user
 * changes, not when a refreshed token of the same user is passed (that one
 * goes through auth:refresh). Options other than url and token are read
 * when the client is made. With no token it stays disconnected.
 */
export function useNotifications(options: HeraldClientOptions | null): UseNotifications {
  const [client, setClient] = useState<HeraldClient | null>(null);
  const optsRef = useRef(options);
  optsRef.current = options;
  const claims = options ? decodeClaims(options.token) : null;
  const identity = options ? `${options.url} ${claims?.tenant_id ?? ""} ${claims?.sub ?? ""}` : null;

  useEffect(() => {
    if (!identity || !optsRef.current) return;
    const c = new HeraldClient(optsRef.current);
    setClient(c);
    return () => {
      c.close();
      setClient(null);
    };
  }, [identity]);

  const token = options?.token;
  useEffect(() => {
    if (client && token && token !== client.handshakeAuth().token) {
      client.setToken(token).catch((err) => optsRef.current?.onError?.(err));
    }
  }, [client, token]);

  const snap = useSyncExternalStore(client ? client.feed.subscribe : noSubscribe, client ? client.feed.getSnapshot : emptySnapshot);
  const actions = useMemo(
    () => ({
      loadMore: () => client?.loadMore() ?? Promise.resolve(false),
      markRead: (id: string) => client?.markRead(id) ?? Promise.resolve(),
      markAllRead: () => client?.markAllRead() ?? Promise.resolve(0),
      remove: (id: string) => client?.delete(id) ?? Promise.resolve(),
    }),
    [client],
  );
  return { ...snap, ...actions, client, hasMore: snap.nextCursor !== "" };
}
