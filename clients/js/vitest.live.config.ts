import { defineConfig } from "vitest/config";

// Unit tests and the tests against a real `herald serve` (HERALD_BIN), as
// TestClientJS (cmd/herald/clientjs_test.go) runs them.
export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts", "test/live/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
