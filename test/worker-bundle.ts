/**
 * Builds a private worker bundle for the worker-pool tests. A worker thread runs plain JavaScript
 * outside vitest's transform, so the TypeScript worker entry cannot be loaded from src/ directly;
 * rather than depend on the shared dist/ (which every `npx tsup` wipes and rebuilds), the tests
 * bundle the sources into a temporary folder laid out like dist/ (the real worker at
 * workers/worker.js), next to a "crash worker" that behaves like the real one except where the
 * test's `intercept` code makes it die.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'tsup';

const root = fileURLToPath(new URL('..', import.meta.url));
/** Absolute path of a source file under src/. */
export const src = (p: string): string => path.join(root, 'src', p);

export interface TestWorkerBundle {
  dir: string;
  workerUrl: URL;
  crashWorkerUrl: URL;
}

/**
 * `intercept` is JavaScript run at the start of the crash worker's `run(name, payload)` (it may
 * exit the process or throw); `imports` are extra import lines for it; `entries` extra bundle
 * entries (name → source path).
 */
export async function bundleTestWorkers(options: {
  prefix: string;
  intercept: string;
  imports?: string;
  entries?: Record<string, string>;
}): Promise<TestWorkerBundle> {
  const dir = mkdtempSync(path.join(tmpdir(), options.prefix));
  writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n');
  const crashEntry = path.join(dir, 'crash-worker.ts');
  writeFileSync(
    crashEntry,
    `import { expose } from 'comlink';
import { parentEndpoint } from ${JSON.stringify(src('platform/node.ts'))};
import { installErrorTransfer } from ${JSON.stringify(src('workers/error-transfer.ts'))};
import { createWorkerApi } from ${JSON.stringify(src('workers/worker-api.ts'))};
${options.imports ?? ''}
installErrorTransfer();
const api = createWorkerApi();
expose({
  init: (b) => api.init(b),
  run(name, payload) {
${options.intercept}
    return api.run(name, payload);
  },
}, parentEndpoint());
`,
  );
  await build({
    config: false,
    entry: { ...options.entries, 'workers/worker': src('workers/worker.ts'), 'crash-worker': crashEntry },
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    splitting: true,
    noExternal: [/.*/],
    outDir: dir,
    dts: false,
    sourcemap: false,
    clean: false,
    silent: true,
    // The crash worker lives in the temporary folder; resolve its bare imports from the repo.
    esbuildOptions(esbuild) {
      esbuild.nodePaths = [path.join(root, 'node_modules')];
    },
  });
  return {
    dir,
    workerUrl: pathToFileURL(path.join(dir, 'workers', 'worker.js')),
    crashWorkerUrl: pathToFileURL(path.join(dir, 'crash-worker.js')),
  };
}
