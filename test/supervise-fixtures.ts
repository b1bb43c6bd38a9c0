/**
 * Ledgers for the supervision tests, built with the library: real receipts signed by both parties
 * (or one-sided by the owner) with the times, sizes and options each rule looks at, appended to a
 * real ledger; key sketches written and committed to as the run wrappers do.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeKeySketch, computeKeySketch, keySketchCommitment, KEY_SKETCH_SALT_BYTES } from '../src/ledger/key-sketch.js';
import { openLedger } from '../src/ledger/node.js';
import { signOneSidedReceipt, signReceiptBody } from '../src/ledger/receipt.js';
import type { UsageReceipt, UsageReceiptBody } from '../src/ledger/receipt-types.js';
import { writeKeySketch } from '../src/ledger/sketch-store.js';
import { generateIdentity, type Identity } from '../src/session/identity.js';
import { sketchOptions } from '../src/session/sketch-record.js';
import { utf8 } from '../src/utils/bytes.js';

/** Monday 2026-03-02 10:00 at UTC+8 (02:00 UTC): working hours under the default rules. */
export const MONDAY_10H = Date.UTC(2026, 2, 2, 2, 0, 0);
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

let counter = 0;
function sessionId(): Uint8Array {
  const id = new Uint8Array(16);
  globalThis.crypto.getRandomValues(id);
  return id;
}

export interface RunSpec {
  at?: number;
  peer: Identity;
  /** The owner's role (default requester). */
  role?: 'requester' | 'responder';
  protocol?: string;
  outcome?: string;
  ownSize?: number;
  peerSize?: number;
  purpose?: string;
  /** Own keys to sketch: a sketch file is written and its commitment recorded. */
  keys?: readonly string[];
  oneSided?: boolean;
  options?: Record<string, string>;
}

/** A ledger owned by `owner` in a fresh directory, with helpers that append receipts. */
export async function fixtureLedger(prefix = 'dp-sup-') {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const owner = generateIdentity();
  const dir = join(root, 'ledger');
  const ledger = await openLedger(dir, { owner });
  const receiptFor = async (s: RunSpec): Promise<UsageReceipt> => {
    const role = s.role ?? 'requester';
    const peerRole = role === 'requester' ? 'responder' : 'requester';
    const at = s.at ?? MONDAY_10H + counter++ * 60_000;
    const id = sessionId();
    let sketchOpts: Record<string, string> = {};
    if (s.keys !== undefined) {
      const sketch = encodeKeySketch(computeKeySketch(s.keys.map((k) => utf8(k)), owner.secretKey));
      const salt = globalThis.crypto.getRandomValues(new Uint8Array(KEY_SKETCH_SALT_BYTES));
      const record = { setSize: s.keys.length, commit: keySketchCommitment(sketch, salt) };
      await writeKeySketch(dir, { sessionId: id, role, sketch, salt });
      sketchOpts = sketchOptions(role, record);
    }
    const body: UsageReceiptBody = {
      version: 1,
      sessionId: id,
      startedAt: at,
      endedAt: at + 1000,
      parties: [
        { role, publicKey: owner.publicKey },
        { role: peerRole, publicKey: s.peer.publicKey },
      ],
      protocol: s.protocol ?? 'ecdh-psi',
      options: { 'count-only': 'false', recipients: 'requester', truncate: '128', ...sketchOpts, ...s.options },
      purpose: s.purpose ?? 'programme audit',
      inputSizes: { [role]: s.ownSize ?? s.keys?.length ?? 100, [peerRole]: s.peerSize ?? 100 },
      outputSizes: { requester: 10 },
      bytesExchanged: 1000,
      computeMs: 10,
      guardrails: [],
      outcome: s.outcome ?? 'completed',
    };
    if (s.oneSided) return signOneSidedReceipt(owner, body);
    return {
      body,
      signatures: [
        { publicKey: owner.publicKey, signature: signReceiptBody(owner.secretKey, body) },
        { publicKey: s.peer.publicKey, signature: signReceiptBody(s.peer.secretKey, body) },
      ],
    };
  };
  return {
    dir,
    owner,
    ledger,
    /** Appends a run; resolves its entry index. */
    async run(s: RunSpec): Promise<number> {
      return (await ledger.append(await receiptFor(s))).index;
    },
    /** A one-sided record of the owner alone (release, trace). */
    async record(protocol: string, outcome: string, options: Record<string, string>, at = MONDAY_10H): Promise<number> {
      const body: UsageReceiptBody = {
        version: 1,
        sessionId: sessionId(),
        startedAt: at,
        endedAt: at,
        parties: [{ role: 'owner', publicKey: owner.publicKey }],
        protocol,
        options,
        purpose: 'leak check',
        inputSizes: {},
        outputSizes: {},
        bytesExchanged: 0,
        computeMs: 0,
        guardrails: [],
        outcome,
      };
      return (await ledger.append(signOneSidedReceipt(owner, body))).index;
    },
    /** Appends a one-sided body built by the library (e.g. `traceReceiptBody`), signed by the owner. */
    async oneSided(body: UsageReceiptBody): Promise<number> {
      return (await ledger.append(signOneSidedReceipt(owner, body))).index;
    },
    async close(): Promise<void> {
      await ledger.close();
    },
    cleanup(): void {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** `n` distinct synthetic resident-ID-like keys from `start`. */
export function ids(start: number, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `11010519900101${String(start + i).padStart(4, '0')}`);
}
