// Refused connections, server-side disconnects, reconnection after the
// server drops the connection, and the payload limit, in each transport mode.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_PAYLOAD, MODES, UTF8, ack, connected, fastReconnect, never, once, socket } from "./harness.mjs";

// reasonOf asks the server, on a fresh connection, why it dropped socket id.
async function reasonOf(t, mode, id) {
  const s = await connected(socket(t, mode), mode);
  const [reason] = await ack(s, "reason-of", id);
  s.disconnect();
  return reason;
}

for (const mode of MODES) {
  describe(mode.name, { timeout: 20000 }, () => {
    it("sees a middleware refusal as connect_error with message and data", async (t) => {
      for (const auth of [{ token: "wrong" }, {}]) {
        const s = socket(t, mode, "/", { auth });
        const [err] = await once(s, "connect_error");
        assert.equal(err.message, "unauthorized");
        assert.deepEqual(err.data, { code: 4001, hint: "token ✓ required" });
        assert.equal(s.connected, false);
        assert.equal(s.active, false, "a refusal by middleware is final");
      }
    });

    it("sees an unknown namespace as connect_error", async (t) => {
      const s = socket(t, mode, "/nope");
      const [err] = await once(s, "connect_error");
      assert.equal(err.message, "Invalid namespace");
    });

    for (const close of [false, true]) {
      it(`is disconnected by the server (Disconnect(${close})) and does not reconnect`, async (t) => {
        const s = await connected(socket(t, mode, "/", fastReconnect), mode);
        const id = s.id;
        const disconnected = once(s, "disconnect");
        s.emit("kick", { close });
        const [reason] = await disconnected;
        assert.equal(reason, "io server disconnect");
        assert.equal(s.active, false, "the client gave up the connection");
        // With reconnection enabled and a 50ms delay, an attempt would come
        // well within this second.
        await Promise.all([
          never(s.io, "reconnect_attempt", 1000),
          never(s, "connect", 1000),
        ]);
        assert.equal(s.connected, false);
        assert.equal(await reasonOf(t, mode, id), "server namespace disconnect");
      });
    }

    // The server closes the Engine.IO session itself (no Socket.IO
    // DISCONNECT packet): here because the client sends a frame that is not
    // a Socket.IO packet, which the server answers by closing the session.
    // The client must take it as a lost connection and reconnect.
    it("reconnects with a new socket id after the server closes the session", async (t) => {
      const s = await connected(socket(t, mode, "/", fastReconnect), mode);
      const id = s.id;
      const oldEngine = s.io.engine;
      const disconnected = once(s, "disconnect");
      const reconnected = once(s.io, "reconnect");
      oldEngine.send("not a socket.io packet");
      const [reason] = await disconnected;
      assert.equal(reason, "transport close");
      assert.equal(s.active, true, "the client will reconnect");
      await reconnected;
      await connected(s, mode);
      assert.notEqual(s.id, id, "a new socket id");
      assert.notEqual(s.io.engine, oldEngine, "a new engine.io session");
      assert.notEqual(s.io.engine.id, oldEngine.id);
      assert.deepEqual(await ack(s, "echo", UTF8), [UTF8]);
      assert.equal(await reasonOf(t, mode, id), "forced close");
    });

    it("is dropped for a message over maxPayload, which the server never handles", async (t) => {
      const s = await connected(socket(t, mode, "/", fastReconnect), mode);
      assert.equal(s.io.engine._maxPayload, MAX_PAYLOAD, "maxPayload from the handshake");
      const disconnected = once(s, "disconnect");
      s.emit("big", "x".repeat(MAX_PAYLOAD + 1));
      const [reason] = await disconnected;
      // On websocket the server closes the connection (status 1009). On
      // polling it answers the POST with 413 and ends the session: the
      // client sees whichever of the failed POST and the close packet on
      // its pending GET comes first.
      const expected = mode.final === "websocket" ? ["transport close"] : ["transport close", "transport error"];
      assert.ok(expected.includes(reason), `disconnect reason ${reason}, want one of ${expected}`);
      await once(s.io, "reconnect");
      await connected(s, mode);
      assert.deepEqual(await ack(s, "stats"), [{ bigReceived: 0 }]);
    });

    it("still accepts a message just under maxPayload", async (t) => {
      const s = await connected(socket(t, mode), mode);
      // 42["echo","xxx..."] plus the engine.io type byte: keep under the limit.
      const text = "x".repeat(MAX_PAYLOAD - 64);
      assert.deepEqual(await ack(s, "echo", text), [text]);
    });
  });
}
