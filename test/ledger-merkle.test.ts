import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  MerkleTree,
  emptyRoot,
  hashLeaf,
  verifyConsistencyProof,
  verifyInclusionProof,
  formatCheckpointBody,
  parseCheckpoint,
  signCheckpoint,
  verifyCheckpoint,
  formatNoteVerifierKey,
} from '../src/ledger/index.js';
import { MalformedMessageError, VerificationFailedError } from '../src/errors.js';
import { fromBase64, fromHex, toHex, utf8 } from '../src/utils/bytes.js';
import { generateIdentity } from '../src/session/identity.js';

const VEC = join(import.meta.dirname, 'vectors', 'rfc6962-merkle');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.json') ? [p] : [];
  });
}

const b64 = (s: string): Uint8Array => {
  try {
    return fromBase64(s);
  } catch {
    return utf8(s);
  }
};

describe('RFC 6962 known-answer roots', () => {
  const kat = JSON.parse(readFileSync(join(VEC, 'known-answer-roots.json'), 'utf8')) as {
    leafInputsHex: string[];
    rootHashesHexBySize: string[];
  };
  it('matches the root of every size 0..8', () => {
    const tree = new MerkleTree();
    expect(toHex(tree.root())).toBe(kat.rootHashesHexBySize[0]);
    expect(toHex(emptyRoot())).toBe(kat.rootHashesHexBySize[0]);
    kat.leafInputsHex.forEach((hex, i) => {
      tree.append(hashLeaf(fromHex(hex)));
      expect(toHex(tree.root()), `size ${i + 1}`).toBe(kat.rootHashesHexBySize[i + 1]);
    });
    for (let n = 0; n <= 8; n++) expect(toHex(tree.root(n))).toBe(kat.rootHashesHexBySize[n]);
  });

  it('generates the same proofs as the vectors for the happy paths', () => {
    const tree = new MerkleTree();
    for (const hex of kat.leafInputsHex) tree.append(hashLeaf(fromHex(hex)));
    let checked = 0;
    for (const file of walk(join(VEC, 'inclusion'))) {
      const v = JSON.parse(readFileSync(file, 'utf8'));
      if (v.wantErr || v.treeSize > 8 || !file.endsWith('happy-path.json')) continue;
      expect(tree.inclusionProof(v.leafIdx, v.treeSize).map((p) => Buffer.from(p).toString('base64'))).toEqual(v.proof ?? []);
      checked++;
    }
    for (const file of walk(join(VEC, 'consistency'))) {
      const v = JSON.parse(readFileSync(file, 'utf8'));
      if (v.wantErr || v.size2 > 8 || v.size1 === 0 || !file.endsWith('happy-path.json')) continue;
      expect(tree.consistencyProof(v.size1, v.size2).map((p) => Buffer.from(p).toString('base64'))).toEqual(v.proof ?? []);
      checked++;
    }
    expect(checked).toBeGreaterThan(3);
  });
});

describe('transparency-dev proof vectors', () => {
  const inclusion = walk(join(VEC, 'inclusion'));
  const consistency = walk(join(VEC, 'consistency'));
  it('found the vector files', () => {
    expect(inclusion.length).toBeGreaterThan(50);
    expect(consistency.length).toBeGreaterThan(50);
  });
  for (const file of inclusion) {
    const v = JSON.parse(readFileSync(file, 'utf8'));
    it(`inclusion ${file.slice(VEC.length + 1)} (${v.desc})`, () => {
      const run = (): void =>
        verifyInclusionProof(b64(v.leafHash ?? ''), v.leafIdx, v.treeSize, (v.proof ?? []).map(b64), b64(v.root ?? ''));
      if (v.wantErr) expect(run).toThrow(VerificationFailedError);
      else run();
    });
  }
  for (const file of consistency) {
    const v = JSON.parse(readFileSync(file, 'utf8'));
    it(`consistency ${file.slice(VEC.length + 1)} (${v.desc})`, () => {
      const run = (): void => verifyConsistencyProof(v.size1, v.size2, (v.proof ?? []).map(b64), b64(v.root1 ?? ''), b64(v.root2 ?? ''));
      if (v.wantErr) expect(run).toThrow(VerificationFailedError);
      else run();
    });
  }
});

describe('proof properties', () => {
  const leaves = Array.from({ length: 64 }, (_, i) => hashLeaf(utf8(`entry ${i}`)));
  const tree = new MerkleTree();
  for (const l of leaves) tree.append(l);

  it('every inclusion proof verifies for all i < n ≤ 64, and fails for any other index or root', () => {
    for (let n = 1; n <= 64; n++) {
      const root = tree.root(n);
      for (let i = 0; i < n; i++) {
        const proof = tree.inclusionProof(i, n);
        verifyInclusionProof(leaves[i]!, i, n, proof, root);
        if (n > 1) expect(() => verifyInclusionProof(leaves[i]!, (i + 1) % n, n, proof, root)).toThrow(VerificationFailedError);
        expect(() => verifyInclusionProof(leaves[(i + 1) % 64]!, i, n, proof, root)).toThrow(VerificationFailedError);
      }
    }
  });

  it('every consistency proof verifies for all 0 < m ≤ n ≤ 64', () => {
    for (let n = 1; n <= 64; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = tree.consistencyProof(m, n);
        verifyConsistencyProof(m, n, proof, tree.root(m), tree.root(n));
        if (m < n) {
          expect(() => verifyConsistencyProof(m, n, proof, tree.root(m === 1 ? 2 : m - 1), tree.root(n))).toThrow(VerificationFailedError);
          expect(() => verifyConsistencyProof(m, n, proof, tree.root(m), tree.root(n - 1))).toThrow(VerificationFailedError);
        }
      }
      expect(tree.consistencyProof(0, n)).toEqual([]);
    }
  });

  it('a flipped bit anywhere in a proof is detected', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 64 }), fc.nat(), fc.nat(), fc.nat(255), (n, i0, pos, bit) => {
        const i = i0 % n;
        const proof = tree.inclusionProof(i, n);
        const k = pos % proof.length;
        const bad = proof.map((p) => p.slice());
        bad[k]![bit % 32]! ^= 1 << (bit % 8);
        expect(() => verifyInclusionProof(leaves[i]!, i, n, bad, tree.root(n))).toThrow(VerificationFailedError);
      }),
    );
  });

  it('truncate undoes appends', () => {
    const t = new MerkleTree();
    for (const l of leaves.slice(0, 37)) t.append(l);
    const r20 = t.root(20);
    t.truncate(20);
    expect(t.size).toBe(20);
    expect(t.root()).toEqual(r20);
    for (const l of leaves.slice(20, 37)) t.append(l);
    expect(t.root()).toEqual(tree.root(37));
  });
});

describe('checkpoints', () => {
  const owner = generateIdentity();
  const root = hashLeaf(utf8('x'));
  it('signs, parses and verifies a C2SP checkpoint', () => {
    const note = signCheckpoint({ origin: 'example.org/ledger', size: 5, root }, owner);
    const lines = note.split('\n');
    expect(lines.slice(0, 4)).toEqual(['example.org/ledger', '5', Buffer.from(root).toString('base64'), '']);
    expect(lines[4]).toMatch(/^\u2014 example\.org\/ledger [A-Za-z0-9+/]{91}=$/);
    const cp = verifyCheckpoint(note, owner.publicKey);
    expect(cp.size).toBe(5);
    expect(cp.root).toEqual(root);
    expect(cp.body).toBe(formatCheckpointBody({ origin: 'example.org/ledger', size: 5, root }));
    expect(formatNoteVerifierKey('example.org/ledger', owner.publicKey)).toMatch(/^example\.org\/ledger\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
  });

  it('rejects another key, a changed body and malformed notes', () => {
    const note = signCheckpoint({ origin: 'example.org/ledger', size: 5, root }, owner);
    expect(() => verifyCheckpoint(note, generateIdentity().publicKey)).toThrow(VerificationFailedError);
    expect(() => verifyCheckpoint(note.replace('\n5\n', '\n6\n'), owner.publicKey)).toThrow(VerificationFailedError);
    expect(() => verifyCheckpoint(note, owner.publicKey, { origin: 'other' })).toThrow(VerificationFailedError);
    for (const bad of ['', 'a\n1\n', note.replace('\n5\n', '\n05\n'), note.replace('\n\n', '\n'), note.slice(0, -1), note + 'x\n', note.replace('example', 'ex ample')]) {
      expect(() => parseCheckpoint(bad)).toThrow(MalformedMessageError);
    }
  });
});
