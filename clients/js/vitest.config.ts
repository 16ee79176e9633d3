import { defineConfig } from "vitest/config";

// Unit tests only; test/live runs against a real herald (vitest.live.config.ts).
export default defineConfig({ test: { include: ["test/unit/**/*.test.ts"] } });
