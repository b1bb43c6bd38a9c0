// A tiny static server for the browser example: the page, its worker, the browser build of dataport
// (dist/browser) and csv-parse's browser bundle. Binds to 127.0.0.1 only.
//   node examples/browser/serve.mjs [--port N]      (after `npm run build`)
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const ROUTES = [
  ['/dist/', path.join(root, 'dist/browser')],
  ['/vendor/csv-parse/', path.join(root, 'node_modules/csv-parse/dist/esm')],
  ['/', here],
];
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.map': 'application/json', '.css': 'text/css', '.csv': 'text/csv' };

/** Maps a URL path to a file under one of the routes, refusing anything that escapes its folder. */
function resolveFile(urlPath) {
  const clean = decodeURIComponent(urlPath.split('?')[0]);
  for (const [prefix, dir] of ROUTES) {
    if (!clean.startsWith(prefix)) continue;
    const rel = clean.slice(prefix.length) || 'index.html';
    const file = path.resolve(dir, rel);
    if (!file.startsWith(dir + path.sep)) return undefined;
    return file;
  }
  return undefined;
}

/** Starts the server; resolves with `{ url, close() }`. */
export function startExampleServer({ port = 0 } = {}) {
  const server = http.createServer((req, res) => {
    let file;
    try {
      file = resolveFile(req.url ?? '/');
    } catch {
      file = undefined;
    }
    if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: p } = server.address();
      resolve({ url: `http://127.0.0.1:${p}/`, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--port');
  const { url } = await startExampleServer({ port: i > 0 ? Number(process.argv[i + 1]) : 8080 });
  console.log(`browser example at ${url}`);
}
