// A Redis of a test file's own: redis-server (its path in
// HERALD_E2E_REDIS_SERVER, handed over by the Go driver) on a free loopback
// port, so that a test can stop and start it again.
import { spawn } from "node:child_process";
import { createServer } from "node:net";

export const REDIS_SERVER = process.env.HERALD_E2E_REDIS_SERVER ?? "";

// freePort resolves with a TCP port of 127.0.0.1 that was free just now.
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// startRedis runs redis-server on port with nothing persisted, and
// resolves once it accepts connections.
export async function startRedis(port) {
  const proc = spawn(REDIS_SERVER, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const killOnExit = () => proc.kill("SIGKILL");
  process.on("exit", killOnExit);
  const exited = new Promise((resolve) => proc.on("exit", () => (process.off("exit", killOnExit), resolve())));
  let out = "";
  proc.stdout.setEncoding("utf8");
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start within 10s:\n${out}`)), 10000);
    proc.stdout.on("data", (c) => {
      out += c;
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    exited.then(() => reject(new Error(`redis-server exited:\n${out}`)));
  });
  return {
    async stop() {
      proc.kill("SIGKILL");
      await exited;
    },
  };
}
