import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The engine serves dist/ at `/`, and the desktop window opens the engine's own URL, so the
// same build works in both. `npm run dev` proxies /api to a running `keygate serve`.
export default defineConfig({
  plugins: [svelte()],
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
  },
  server: {
    port: 5173,
    strictPort: false,
    proxy: {
      // changeOrigin: the engine only answers a Host of 127.0.0.1:PORT (DNS-rebinding guard).
      '/api': { target: process.env.KEYGATE_URL ?? 'http://127.0.0.1:5397', changeOrigin: true },
    },
  },
});
