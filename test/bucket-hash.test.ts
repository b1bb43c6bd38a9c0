/**
 * The JavaScript HMAC-SHA256 of the job's bucket function (src/cli/jobs/bucket-hash.ts) against
 * node:crypto's: the first 8 bytes agree for keys of 0..64 bytes and every message length up to
 * three blocks; the bucket function agrees with `bucketIndex` of node:crypto's MAC.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createHmacSha256Prefix } from '../src/cli/jobs/bucket-hash.js';
import { bucketFunction } from '../src/cli/jobs/work-dir.js';
import { bucketIndex } from '../src/session/run-job.js';

describe('bucket hash', () => {
  it('equals node:crypto HMAC-SHA256 (first 8 bytes) for every message length up to 3 blocks', () => {
    for (const keyLen of [0, 1, 16, 32, 63, 64]) {
      const key = randomBytes(keyLen);
      const mac = createHmacSha256Prefix(key);
      for (let n = 0; n <= 200; n++) {
        const m = randomBytes(n);
        const want = createHmac('sha256', key).update(m).digest();
        const [hi, lo] = mac(m);
        expect([hi, lo], `key ${keyLen} B, message ${n} B`).toEqual([want.readUInt32BE(0), want.readUInt32BE(4)]);
      }
    }
  });

  it('RFC 4231 test case 2 (key "Jefe")', () => {
    const [hi, lo] = createHmacSha256Prefix(Buffer.from('Jefe'))(Buffer.from('what do ya want for nothing?'));
    // HMAC-SHA-256 = 5bdcc146bf60754e6a042426089575c7…
    expect([hi.toString(16), lo.toString(16)]).toEqual(['5bdcc146', 'bf60754e']);
  });

  it('the bucket function is bucketIndex of the MAC', () => {
    const bucketKey = randomBytes(32).toString('hex');
    for (const buckets of [1, 7, 64, 65536]) {
      const f = bucketFunction({ bucketKey, buckets });
      for (let i = 0; i < 500; i++) {
        const k = randomBytes(1 + (i % 70));
        expect(f(k)).toBe(bucketIndex(createHmac('sha256', Buffer.from(bucketKey, 'hex')).update(k).digest(), buckets));
      }
    }
  });

  it('refuses a key longer than one block', () => {
    expect(() => createHmacSha256Prefix(new Uint8Array(65))).toThrow(RangeError);
  });
});
