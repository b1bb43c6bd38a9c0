/**
 * The browser build (dist/browser, built by tsup) never imports the database drivers or Node
 * built-ins: record sources live only behind `dataport/node` (docs/databases.md).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = resolve(import.meta.dirname, '..', 'dist', 'browser');

function jsFiles(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? jsFiles(join(d, e.name)) : e.name.endsWith('.js') ? [join(d, e.name)] : []));
}

describe('browser bundle', () => {
  it('imports no database driver and no node: module', () => {
    if (!existsSync(dir)) throw new Error(`${dir} is missing: run 'npx tsup' (npm test builds first)`);
    const specifiers = new Set<string>();
    for (const f of jsFiles(dir)) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/\bfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)|\bimport\s*["']([^"']+)["']/g)) specifiers.add(m[1] ?? m[2] ?? m[3]!);
    }
    expect(specifiers.size).toBeGreaterThan(0);
    const forbidden = [...specifiers].filter((s) => /^(node:|pg$|pg-cursor$|mysql2($|\/)|fs$|net$|tls$)/.test(s));
    expect(forbidden).toEqual([]);
  });
});
