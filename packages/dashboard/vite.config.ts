import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The single-page app, built into dist/app: static files only, served by `dashboardResponse`.
// Relative asset URLs (`base: "./"`); the server writes the mount path into index.html.
export default defineConfig({
  root: fileURLToPath(new URL("./app", import.meta.url)),
  base: "./",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: fileURLToPath(new URL("./dist/app", import.meta.url)),
    emptyOutDir: true,
    // No inline scripts or data: URLs in the output, so the page runs under a strict CSP.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: "es2022",
  },
});
