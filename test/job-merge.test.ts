/**
 * The job's merge from the row index written at partition time (work-dir.ts `RowIndexWriter`,
 * run-bucket.ts `mergeByRowIndex`): byte for byte what the parsing merge of earlier builds writes
 * for awkward CSV (BOM, CRLF, quoted line breaks, blank lines, rows without a key, no final line
 * end); nothing written when the input changed since it was partitioned or the index is damaged.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mergeOutput } from '../src/cli/jobs/run-bucket.js';
import { jobPaths, makeJobDir, partitionInput, writeBucketResult, type JobManifest } from '../src/cli/jobs/work-dir.js';

const dir = mkdtempSync(join(tmpdir(), 'dataport-job-merge-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Deterministic pseudo-random choices (xorshift), so a failure reproduces.
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function awkwardCsv(rows: number, seed: number): string {
  const r = rng(seed);
  let s = '\uFEFF\r\nid,name,note\r\n';
  for (let i = 0; i < rows; i++) {
    const k = r();
    if (k < 0.05) s += '\r\n'; // a blank line
    const id = k < 0.1 ? '' : k < 0.2 ? `"ID${i}"` : ` ID${(i * 7919) % (rows - 3)} `;
    const note = k > 0.9 ? '"multi\r\nline, ""quoted"""' : `n${i}`;
    s += `${id},"Name, ${i}",${note}`;
    if (i < rows - 1) s += '\r\n';
  }
  return s;
}

async function partitioned(name: string, text: string, buckets: number): Promise<{ m: JobManifest; workDir: string }> {
  const input = join(dir, `${name}.csv`);
  writeFileSync(input, text);
  const workDir = join(dir, `${name}-work`);
  const m = { version: 1, jobId: name, role: 'requester', buckets, bucketKey: '5a'.repeat(32), input, keyColumns: ['id'] } as unknown as JobManifest;
  await makeJobDir(workDir, name);
  await partitionInput(workDir, m);
  // Each bucket "matches" a pseudo-random subset of its rows.
  const r = rng(buckets);
  for (let b = 0; b < buckets; b++) {
    const rows: number[] = [];
    for (let k = 0; k < m.bucketRows[b]!; k++) if (r() < 0.4) rows.push(k);
    await writeBucketResult(workDir, name, { bucket: b, distinctKeys: 0, peerDistinctKeys: 0, intersectionSize: null, matchedRows: rows.length, bytesSent: 0, bytesReceived: 0, ms: 0 }, Float64Array.from(rows));
  }
  return { m, workDir };
}

describe('job merge from the row index', () => {
  it.each([1, 7, 64])('B = %i: the same bytes as the parsing merge', async (buckets) => {
    const { m, workDir } = await partitioned(`same${buckets}`, awkwardCsv(3000, buckets), buckets);
    expect(m.rowIndex).toBe(1);
    expect(existsSync(jobPaths(workDir, m.jobId).rowIndex)).toBe(true);
    const fast = join(dir, `same${buckets}-fast.csv`);
    const parsed = join(dir, `same${buckets}-parsed.csv`);
    const n = await mergeOutput(workDir, m, fast);
    const { rowIndex: _, ...earlier } = m;
    const n2 = await mergeOutput(workDir, earlier as JobManifest, parsed);
    expect(n).toBe(n2);
    expect(n).toBeGreaterThan(500);
    expect(readFileSync(fast).equals(readFileSync(parsed))).toBe(true);
    // The header (with its BOM) leads the output; blank lines are not copied.
    expect(readFileSync(fast).subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    expect(readFileSync(fast).includes('\r\n\r\n')).toBe(false);
  });

  it('rows longer than a bucket file\'s buffer keep their place (header included)', async () => {
    const long = (i: number) => `"${'x'.repeat(70_000 + i)}"`;
    let text = `id,${long(0)}\n`;
    for (let i = 0; i < 300; i++) text += `ID${i},${i % 50 === 0 ? long(i) : `n${i}`}\n`;
    const { m, workDir } = await partitioned('long', text, 7);
    // Every bucket file is the header, then its rows in input order.
    const rows = text.split('\n').slice(1, -1);
    let seen = 0;
    for (let b = 0; b < 7; b++) {
      const file = readFileSync(jobPaths(workDir, m.jobId).bucketCsv(b), 'utf8').split('\n').slice(0, -1);
      expect(file[0]).toBe(text.split('\n')[0]);
      const mine = file.slice(1);
      expect(mine).toEqual(rows.filter((r) => mine.includes(r)));
      seen += mine.length;
    }
    expect(seen).toBe(300);
    const fast = join(dir, 'long-fast.csv');
    const parsed = join(dir, 'long-parsed.csv');
    await mergeOutput(workDir, m, fast);
    const { rowIndex: _, ...earlier } = m;
    await mergeOutput(workDir, earlier as JobManifest, parsed);
    expect(readFileSync(fast).equals(readFileSync(parsed))).toBe(true);
  });

  it('an input changed since it was partitioned (same size, or longer) writes nothing', async () => {
    const text = awkwardCsv(2000, 5);
    const { m, workDir } = await partitioned('changed', text, 7);
    const out = join(dir, 'changed-out.csv');
    // One byte flipped in the last row's note: the row index still fits, the digest does not.
    writeFileSync(m.input, text.slice(0, -1) + (text.endsWith('1') ? '2' : '1'));
    await expect(mergeOutput(workDir, m, out)).rejects.toThrow(/changed during the run/);
    expect(existsSync(out)).toBe(false);
    writeFileSync(m.input, text);
    appendFileSync(m.input, '\r\nIDnew,x,y');
    await expect(mergeOutput(workDir, m, out)).rejects.toThrow(/changed during the run/);
    expect(existsSync(out)).toBe(false);
    // Shorter than the index says.
    writeFileSync(m.input, text.slice(0, text.length >> 1));
    await expect(mergeOutput(workDir, m, out)).rejects.toThrow(/changed during the run/);
    expect(existsSync(out)).toBe(false);
    writeFileSync(m.input, text);
    await expect(mergeOutput(workDir, m, out)).resolves.toBeGreaterThan(0);
  });

  it('a damaged row index fails with a clear message and writes nothing', async () => {
    const { m, workDir } = await partitioned('damaged', awkwardCsv(2000, 9), 7);
    const idx = jobPaths(workDir, m.jobId).rowIndex;
    truncateSync(idx, statSync(idx).size - 100);
    const out = join(dir, 'damaged-out.csv');
    await expect(mergeOutput(workDir, m, out)).rejects.toThrow(/damaged row index/);
    expect(existsSync(out)).toBe(false);
    rmSync(idx);
    await expect(mergeOutput(workDir, m, out)).rejects.toThrow(/damaged row index/);
    expect(existsSync(out)).toBe(false);
  });
});
