/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The API serves the build: index.html at `/`, assets under `/ui/` (api/main.py WEB_PREFIX).
// `npm run dev` proxies the API routes to BRIGHT_API_URL (default http://127.0.0.1:8000).
declare const process: { env: Record<string, string | undefined> };
const api = process.env.BRIGHT_API_URL ?? "http://127.0.0.1:8000";
const apiRoutes = [
  "/auth", "/config", "/sessions", "/orders", "/matches", "/balances", "/participants",
  "/meter-intervals", "/forecasts", "/devices", "/preferences", "/events", "/requests",
  "/accounts", "/clusters", "/health", "/dashboards", "/trade-settlements", "/docs", "/redoc", "/openapi.json",
  "/profile", "/twin", "/control",
];

export default defineConfig({
  base: "/ui/",
  plugins: [react()],
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: Object.fromEntries(apiRoutes.map((r) => [r, { target: api, changeOrigin: false }])),
  },
  test: {
    environment: "jsdom",
    globals: true,
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    setupFiles: ["src/setupTests.ts"],
  },
});
