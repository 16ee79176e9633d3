// The handshake a HeraldClient sends, without connecting (autoConnect off).
import { describe, expect, it } from "vitest";
import { HeraldClient, memoryStorage, seqKey } from "../../src/client.js";

const b64url = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
const jwt = (claims: object) => `${b64url({ alg: "HS256" })}.${b64url(claims)}.sig`;

describe("HeraldClient handshake", () => {
  it("passes the last seq stored for the token's user as auth.since", () => {
    const storage = memoryStorage();
    storage.set(seqKey("t1", "u1"), 41);
    storage.set(seqKey("", "u1"), 7); // another tenant's user u1
    const c = new HeraldClient({ url: "http://127.0.0.1:1", token: jwt({ sub: "u1", tenant_id: "t1" }), storage, socketOptions: { autoConnect: false } });
    expect(c.handshakeAuth()).toEqual({ token: c.handshakeAuth().token, since: 41 });
    c.feed.add([{ id: "x", userId: "u1", tenantId: "t1", seq: 50, type: "", title: "", message: "", data: null, status: "unread", createdAt: "", readAt: null, expiresAt: null }]);
    expect(c.handshakeAuth().since).toBe(50);
    c.close();
  });

  it("sends no since before it saw anything", () => {
    const c = new HeraldClient({ url: "http://127.0.0.1:1", token: jwt({ sub: "u2" }), socketOptions: { autoConnect: false } });
    expect(c.handshakeAuth()).toEqual({ token: jwt({ sub: "u2" }) });
    c.close();
  });
});
