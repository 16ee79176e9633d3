// A second namespace, /admin, multiplexed on the same connection as "/",
// in each transport mode.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { MODES, TOKEN, UTF8, ack, connected, manager, never, once } from "./harness.mjs";

for (const mode of MODES) {
  describe(mode.name, { timeout: 20000 }, () => {
    it("connects to /admin and round-trips events there", async (t) => {
      const m = manager(t, mode);
      const admin = m.socket("/admin", { auth: { token: TOKEN } });
      const welcome = once(admin, "welcome");
      await connected(admin, mode);
      assert.deepEqual(await welcome, [{ id: admin.id, nsp: "/admin", auth: { token: TOKEN } }]);
      const bin = Buffer.from([1, 2, 3]);
      assert.deepEqual(await ack(admin, "echo", UTF8, { bin }), [UTF8, { bin }]);
      const back = once(admin, "echo-back");
      admin.emit("echo", UTF8);
      assert.deepEqual(await back, [UTF8]);
    });

    it("refuses /admin without the token, independently of /", async (t) => {
      const m = manager(t, mode);
      const root = m.socket("/", { auth: { token: TOKEN } });
      const admin = m.socket("/admin", { auth: { token: "wrong" } });
      const [err] = await once(admin, "connect_error");
      assert.equal(err.message, "unauthorized");
      await connected(root, mode);
      assert.deepEqual(await ack(root, "echo", "root still fine"), ["root still fine"]);
    });

    it("keeps / and /admin isolated on one connection", async (t) => {
      const m = manager(t, mode);
      const root = m.socket("/", { auth: { token: TOKEN } });
      const admin = m.socket("/admin", { auth: { token: TOKEN } });
      await connected(root, mode);
      await connected(admin, mode);
      assert.equal(root.io, admin.io, "one manager");
      assert.notEqual(root.id, admin.id);

      // Same room name in both namespaces: rooms belong to a namespace.
      const room = `room-${randomUUID()}`;
      await ack(root, "join", room);
      await ack(admin, "join", room);

      // An emit to / reaches the / socket only...
      const rootNews = once(root, "news");
      const adminQuiet = never(admin, "news", 300);
      assert.deepEqual(await ack(root, "shout", room, `for / ${UTF8}`), [true]);
      assert.deepEqual(await rootNews, ["/", `for / ${UTF8}`]);
      await adminQuiet;

      // ...and one to /admin the /admin socket only.
      const adminNews = once(admin, "news");
      const rootQuiet = never(root, "news", 300);
      assert.deepEqual(await ack(admin, "shout", room, "for /admin"), [true]);
      assert.deepEqual(await adminNews, ["/admin", "for /admin"]);
      await rootQuiet;

      // Leaving /admin does not affect /.
      admin.disconnect();
      assert.deepEqual(await ack(root, "echo", "after /admin left"), ["after /admin left"]);
      assert.ok(root.connected);
    });
  });
}
