import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The control plane `npm run dev` talks to (override with CORRAL_DEV_API).
const api = process.env.CORRAL_DEV_API ?? "http://127.0.0.1:8420";

export default defineConfig({
  plugins: [react()],
  // Served by the control plane at `/`; assets are fetched from `/assets/…` on every route.
  base: "/",
  build: {
    outDir: "../src/corral/control/static",
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    // The Host header is passed through unchanged (no `changeOrigin`): the control plane checks
    // a WebSocket's Origin and a sign-in POST's origin against the Host it sees, and both are
    // this dev server's.
    proxy: {
      "/api": { target: api, ws: true },
      "/auth": { target: api },
    },
  },
  preview: {
    proxy: {
      "/api": { target: api, ws: true },
      "/auth": { target: api },
    },
  },
});
