import { defineConfig } from 'tsup';
import type { Plugin } from 'esbuild';
import { fileURLToPath } from 'node:url';

// The browser build swaps `src/platform/node.ts` for `src/platform/browser.ts` (same exports).
const browserPlatform: Plugin = {
  name: 'dataport-browser-platform',
  setup(build) {
    build.onResolve({ filter: /platform\/node(\.js)?$/ }, () => ({
      path: fileURLToPath(new URL('./src/platform/browser.ts', import.meta.url)),
    }));
  },
};

// Two outputs: the Node build (what `import 'dataport'` resolves to on Node, plus the CLI) and a
// browser build of the same library entries, where the platform-specific modules resolve to their
// browser variants through the `#platform` conditional imports in package.json.
export default defineConfig([
  {
    entry: {
      index: 'src/index.ts',
      node: 'src/node.ts',
      'crypto/index': 'src/crypto/index.ts',
      'cli/main': 'src/cli/main.ts',
      // The worker pool loads this file as `./workers/worker.js` relative to its own chunk.
      'workers/worker': 'src/workers/worker.ts',
    },
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    dts: { entry: { index: 'src/index.ts', node: 'src/node.ts', 'crypto/index': 'src/crypto/index.ts' } },
    sourcemap: true,
    clean: true,
    splitting: true,
    outDir: 'dist',
  },
  {
    entry: { index: 'src/index.ts', 'crypto/index': 'src/crypto/index.ts' },
    format: ['esm'],
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    splitting: true,
    outDir: 'dist/browser',
    // The small pure-JS dependencies are bundled so that dist/browser works in a plain
    // <script type="module"> page with no bundler or import map (examples/browser). node-seal stays
    // external: it is large, loaded lazily, and only the HE features need it (use a bundler there).
    // @bufbuild/protobuf (the PPCA messages) is pure JS too, and bundled for the same reason.
    noExternal: [/^@noble\//, /^comlink/, /^@bufbuild\/protobuf/],
    esbuildPlugins: [browserPlatform],
    esbuildOptions(options) {
      options.conditions = ['browser'];
    },
  },
  {
    // The browser worker entry, self-contained (comlink and the crypto core bundled in): a module
    // worker cannot count on the page's import map or bundler to resolve bare specifiers. node-seal
    // (HE encryption in workers) is its Web Worker ES build, split into a chunk that is fetched only
    // when a worker first encrypts.
    entry: { 'workers/worker': 'src/workers/worker.ts' },
    format: ['esm'],
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    splitting: true,
    noExternal: [/.*/],
    outDir: 'dist/browser',
    esbuildPlugins: [browserPlatform],
    esbuildOptions(options) {
      options.conditions = ['browser'];
      options.alias = { 'node-seal': 'node-seal/throws_wasm_worker_es.js' };
    },
  },
]);
