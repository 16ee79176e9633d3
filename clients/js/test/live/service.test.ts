// HeraldService (the seed's WebSocketService over herald's HTTP API)
// against a real herald, observed through a real socket.io-client.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { io, type Socket } from "socket.io-client";
import { HeraldService } from "../../src/server.js";
import { HeraldError } from "../../src/client.js";
import { API_KEY, startHerald, token, uid, until, type Herald } from "./herald.js";

let herald: Herald;
let service: HeraldService;
beforeAll(async () => {
  herald = await startHerald();
  service = new HeraldService({ baseUrl: herald.url, apiKey: API_KEY, backoffMs: 10 });
});
afterAll(() => herald?.stop());

// listen connects a plain socket.io-client for user and records every event.
async function listen(user: string): Promise<{ socket: Socket; events: Array<[string, any]> }> {
  const socket = io(herald.url, { auth: { token: token(user) }, transports: ["websocket"], forceNew: true });
  const events: Array<[string, any]> = [];
  socket.onAny((e, d) => events.push([e, d]));
  await until("authenticated", () => events.some(([e]) => e === "authenticated"));
  return { socket, events };
}

const of = (events: Array<[string, any]>, name: string) => events.filter(([e]) => e === name).map(([, d]) => d);

describe("HeraldService", () => {
  it("speaks the seed's WebSocketService methods to a real herald", async () => {
    const user = uid();
    const { socket, events } = await listen(user);
    try {
      expect(await service.isUserConnected(user)).toBe(true);
      expect(await service.getUserSocketCount(user)).toBe(1);
      expect(await service.getConnectedUsersCount()).toBeGreaterThanOrEqual(1);
      expect(await service.isUserConnected(uid("nobody"))).toBe(false);

      expect(await service.emitNotificationToUser(user, { id: "n1", title: "t", message: "m", type: "info" })).toBe(true);
      expect(await service.emitNotificationToUsers([user, uid()], { id: "n2", title: "t", message: "m", type: "info" })).toBe(true);
      expect(await service.emitUnreadCountUpdate(user, 7)).toBe(true);
      expect(await service.emitNotificationDeleted(user, "n1")).toBe(true);
      expect(await service.emitDataUpdated(user, "order", { id: 3 })).toBe(true);
      expect(await service.emitToRoom(`user:${user}`, "custom:room", { x: 1 })).toBe(true);
      expect(await service.broadcast("custom:all", { y: 2 })).toBe(true);

      await until("all events", () => of(events, "custom:all").length === 1);
      expect(of(events, "notification:new").map((d) => d.notification.id)).toEqual(["n1", "n2"]);
      expect(of(events, "notification:unread_count").at(-1)).toMatchObject({ unreadCount: 7 });
      expect(of(events, "notification:deleted")[0]).toMatchObject({ notificationId: "n1" });
      expect(of(events, "data:updated")[0]).toMatchObject({ type: "order", data: { id: 3 } });
      expect(of(events, "custom:room")[0]).toMatchObject({ x: 1 });
      for (const [, d] of events.slice(1)) expect(d.timestamp).toMatch(/^\d{4}-\d\d-\d\dT/);
    } finally {
      socket.disconnect();
    }
  });

  it("createNotification stores and announces; a bad one rejects with herald's code", async () => {
    const user = uid();
    const { socket, events } = await listen(user);
    try {
      const [n] = await service.createNotification({ userId: user, type: "info", title: "Hi", message: "there", data: { k: 1 } });
      expect(n).toMatchObject({ userId: user, seq: 1, title: "Hi", status: "unread", data: { k: 1 } });
      await until("notification:new", () => of(events, "notification:new").length === 1);
      expect(of(events, "notification:new")[0].notification).toEqual(n);
      const err = await service.createNotification({ userId: user, type: "", title: "x", message: "" }).catch((e) => e);
      expect(err).toBeInstanceOf(HeraldError);
      expect(err).toMatchObject({ code: "invalid", status: 400 });
      const emitted = await service.emit({ userId: user }, "connect", {});
      expect(emitted).toBe(false); // reserved event name: 400, reported to onError, not thrown
    } finally {
      socket.disconnect();
    }
  });

  it("a retry after a lost answer stores the notification once (idempotency key)", async () => {
    const user = uid();
    let calls = 0;
    // The first answer is lost on the way back: herald stored it, the caller never heard.
    const lossy = (async (url: string, init: RequestInit) => {
      const res = await fetch(url, init);
      if (++calls === 1) {
        await res.text();
        throw new TypeError("fetch failed: connection reset");
      }
      return res;
    }) as typeof fetch;
    const s = new HeraldService({ baseUrl: herald.url, apiKey: API_KEY, backoffMs: 10, fetch: lossy });
    const [n] = await s.createNotification({ userId: user, type: "info", title: "once", message: "" });
    expect(calls).toBe(2);
    const res = await fetch(`${herald.url}/v1/me/notifications`, { headers: { Authorization: `Bearer ${token(user)}` } });
    const page = (await res.json()) as { notifications: Array<{ id: string }> };
    expect(page.notifications.map((x) => x.id)).toEqual([n.id]);
  });

  it("deleteNotification deletes, then is not_found", async () => {
    const user = uid();
    const [n] = await service.createNotification({ userId: user, type: "info", title: "del", message: "" });
    await service.deleteNotification(n.id);
    await expect(service.deleteNotification(n.id)).rejects.toMatchObject({ code: "not_found", status: 404 });
  });
});
