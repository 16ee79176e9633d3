import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// The build (dist/) is committed and embedded in the herald binary
// (web/embed.go); `npm run build` rebuilds it byte for byte from the same
// package-lock.json (TestDistIsBuilt checks that in CI).
export default defineConfig({
  plugins: [react()],
  // Relative asset URLs: the page works wherever herald mounts it.
  base: "./",
  resolve: {
    alias: {
      "@herald/client": src("../clients/js/src"),
      "@": src("./src"),
    },
    // One copy of each, although clients/js has its own node_modules.
    dedupe: ["react", "react-dom", "socket.io-client"],
  },
  define: {
    // The seed's useSocket connects to VITE_API_URL: make it the herald
    // the page was opened for (src/session.ts), so the hook stays unchanged.
    "import.meta.env.VITE_API_URL": "globalThis.__HERALD_URL__",
  },
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1024 },
});
