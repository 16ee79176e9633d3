// Connection with auth, events, binary attachments and acknowledgements,
// in each transport mode.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ACK_TIMEOUT_MS, MODES, TOKEN, UTF8, ack, connected, delay, never, once, socket } from "./harness.mjs";

// hex renders bytes the way the Go side's inspect handler does.
const hex = (b) => Buffer.from(b).toString("hex");

// described is what the Go inspect handler acks for a string.
const described = (s) => ({ string: s, runes: [...s].length, validUTF8: true });

for (const mode of MODES) {
  describe(mode.name, { timeout: 20000 }, () => {
    it("connects with an auth payload that middleware checks and the server echoes", async (t) => {
      const auth = { token: TOKEN, user: UTF8, n: 42, nested: { ok: true } };
      const s = socket(t, mode, "/", { auth });
      const welcome = once(s, "welcome");
      await connected(s, mode);
      const [w] = await welcome;
      assert.deepEqual(w, { id: s.id, nsp: "/", auth });
      assert.equal(s.io.engine.transport.name, mode.final);
      assert.deepEqual(await ack(s, "transport"), [mode.final], "the server sees the same transport");
    });

    it("round-trips multi-byte UTF-8 exactly, both ways", async (t) => {
      const s = await connected(socket(t, mode), mode);
      const payload = {
        text: UTF8,
        [`clé ${UTF8}`]: ["値", "🎉🎉", "\u0000 nul and \u2028 separator"],
        long: "✓".repeat(2000), // 6000 bytes: a 16-bit websocket length
      };
      const back = once(s, "echo-back");
      s.emit("echo", UTF8, payload);
      assert.deepEqual(await back, [UTF8, payload]);

      // The Go side decoded the same characters, not just the same bytes.
      assert.deepEqual(await ack(s, "inspect", UTF8), [described(UTF8)]);
    });

    it("carries binary attachments nested in objects and arrays, client to server", async (t) => {
      const s = await connected(socket(t, mode), mode);
      const blob = Buffer.from([0, 1, 2, 127, 128, 254, 255]);
      const payload = {
        name: UTF8,
        file: blob,
        list: [Buffer.from("héllo"), { deep: Buffer.alloc(0) }, [Buffer.from([0xff])]],
      };
      const [desc] = await ack(s, "inspect", payload);
      assert.deepEqual(desc, {
        name: described(UTF8),
        file: { bytes: hex(blob) },
        list: [{ bytes: hex(Buffer.from("héllo")) }, { deep: { bytes: "" } }, [{ bytes: "ff" }]],
      });

      // And back: the server re-encodes the []byte it decoded as attachments.
      const back = once(s, "echo-back");
      s.emit("echo", payload, blob);
      const got = await back;
      assert.deepEqual(got, [payload, blob]);
      assert.ok(Buffer.isBuffer(got[0].list[1].deep), "nested attachment comes back as a Buffer");
    });

    it("carries binary attachments nested in objects and arrays, server to client", async (t) => {
      const s = await connected(socket(t, mode), mode);
      const got = once(s, "binary");
      s.emit("send-binary");
      const [obj, top] = await got;
      assert.deepEqual(obj, {
        text: UTF8,
        blob: Buffer.from([0, 1, 2, 253, 254, 255]),
        nested: [Buffer.from("héllo"), { deep: Buffer.from([0xca, 0xfe]), n: 7 }],
      });
      assert.deepEqual(top, Buffer.from([0xde, 0xad, 0xbe, 0xef]));
      assert.ok(Buffer.isBuffer(obj.nested[1].deep));
    });

    it("gets the server's ack for a client emit", async (t) => {
      const s = await connected(socket(t, mode), mode);
      const bin = Buffer.from([9, 8, 7]);
      assert.deepEqual(await ack(s, "echo", UTF8, 1.5, null, { bin }), [UTF8, 1.5, null, { bin }]);
      // emitWithAck is the promise form the client documents.
      assert.equal(await s.timeout(5000).emitWithAck("echo", "only"), "only");
    });

    it("answers a server EmitWithAck, binary included", async (t) => {
      const s = await connected(socket(t, mode), mode);
      const question = once(s, "question");
      const answer = once(s, "answer");
      s.emit("ask");
      const [text, bytes, reply] = await question;
      assert.equal(text, "what is 6×7? ✓");
      assert.deepEqual(bytes, Buffer.from([0xde, 0xad, 0xbe, 0xef]));
      assert.equal(typeof reply, "function", "the server asked for an ack");
      const nested = { why: UTF8, raw: Buffer.from([1, 2, 3]) };
      reply(42, "réponse ✓", nested);
      const [a] = await answer;
      assert.deepEqual(a, { values: [42, "réponse ✓", nested] });
    });

    it("lets a server EmitWithAck time out when the client never acks", async (t) => {
      const s = await connected(socket(t, mode), mode);
      const question = once(s, "ignored-question");
      const timedOut = once(s, "ack-timeout");
      s.emit("ask-timeout");
      const [text, lateAck] = await question;
      assert.equal(text, "please do not answer");
      const [r] = await timedOut;
      assert.equal(r.error, "socketio: acknowledgement timed out");
      assert.equal(r.isTimeout, true, "errors.Is(err, socketio.ErrAckTimeout)");
      assert.equal(r.calls, 1);
      assert.ok(r.elapsedMs >= ACK_TIMEOUT_MS, `timed out after ${r.elapsedMs}ms, before ${ACK_TIMEOUT_MS}ms`);

      // A late ack is ignored: the callback does not run again and the
      // connection stays usable.
      lateAck("too late");
      const again = never(s, "ack-timeout", 300);
      assert.deepEqual(await ack(s, "echo", "still here"), ["still here"]);
      await again;
      assert.ok(s.connected);
    });

    it("keeps events in order both ways, from connect through the upgrade", async (t) => {
      // Emit from the moment of connection: in default mode the events
      // cross the polling-to-websocket upgrade, where the server must hand
      // its queue over to the websocket without loss or reordering.
      const s = socket(t, mode);
      const n = 200;
      const echoed = [];
      const ticks = [];
      s.on("echo-back", (i) => echoed.push(i));
      s.on("tick", (i) => ticks.push(i));
      await once(s, "connect");
      s.emit("burst", n);
      for (let i = 0; i < n; i++) {
        s.emit("echo", i);
      }
      await connected(s, mode);
      const want = Array.from({ length: n }, (_, i) => i);
      // A final round trip is answered after everything sent before it.
      await ack(s, "echo", "fence");
      assert.deepEqual(ticks, want, "server to client");
      assert.deepEqual(echoed, want, "client to server and back");
    });

    it("exchanges events across several server heartbeats", async (t) => {
      const s = await connected(socket(t, mode), mode);
      // The server pings every 300ms and drops a client whose pong is late;
      // the client answers each ping and would drop a silent server.
      let pings = 0;
      s.io.on("ping", () => pings++);
      const dropped = never(s, "disconnect", 1200);
      for (let i = 0; i < 6; i++) {
        assert.deepEqual(await ack(s, "echo", i, UTF8), [i, UTF8]);
        await delay(200);
      }
      await dropped;
      assert.ok(pings >= 2, `${pings} pings in 1.2s at a 300ms interval`);
      assert.equal(s.io.engine.transport.name, mode.final);
    });
  });
}
