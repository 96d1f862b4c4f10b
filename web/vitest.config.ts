import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// Component tests: React components rendered into jsdom (`npm test`).
export default defineConfig({
  plugins: [react()],
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
