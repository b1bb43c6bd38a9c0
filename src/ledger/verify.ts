/**
 * Offline verification of a ledger from its files' bytes and the owner's public key
 * (DESIGN.md §7). Runtime-neutral: an auditor can run it anywhere.
 * @module
 */
import { MalformedMessageError, VerificationFailedError } from '../errors.js';
import { assertBytes, equalBytes, utf8 } from '../utils/bytes.js';
import { formatCheckpointBody, verifyCheckpoint } from './checkpoint.js';
import { ed25519Verify } from './hash.js';
import { decodeLogHeader, scanRecords } from './log-format.js';
import type { LogRecord } from './log-format.js';
import { MerkleTree, hashLeaf } from './merkle.js';
import { decodeAndVerifyReceipt } from './receipt.js';

/**
 * Options of {@link verifyLedgerBytes}.
 * @example
 * ```ts
 * verifyLedgerBytes(logBytes, { publicKey: ownerKey, checkpoint: text });
 * ```
 */
export interface VerifyLedgerOptions {
  /** The owner's public key to pin; without it the key in the log's header is trusted. */
  publicKey?: Uint8Array;
  /** Text of the stored checkpoint file, if there is one. */
  checkpoint?: string;
  /** Called with the number of entries checked so far (every 1,000 entries). */
  onProgress?: (checked: number) => void;
}

/**
 * The first problem found. `index` is the entry index, absent for header / key problems.
 * @example
 * ```ts
 * const { problem } = verifyLedgerBytes(logBytes);
 * if (problem) console.error(problem.index, problem.message);
 * ```
 */
export interface LedgerProblem {
  index?: number;
  message: string;
}

/**
 * Result of {@link verifyLedgerBytes}.
 * @example
 * ```ts
 * const { ok, size, root } = verifyLedgerBytes(logBytes, { publicKey });
 * ```
 */
export interface VerifyLedgerResult {
  ok: boolean;
  origin?: string;
  ownerPublicKey?: Uint8Array;
  /** True if the owner key was pinned by the caller rather than read from the header. */
  ownerKeyPinned: boolean;
  /** Entries checked and found good (all of them when `ok`). */
  size: number;
  /** Root of those entries. */
  root: Uint8Array;
  /** Size covered by the stored checkpoint, if one was given and parsed. */
  checkpointSize?: number;
  /** Bytes of an incomplete final record (an append interrupted by a crash; never acknowledged). */
  tornTailBytes: number;
  problem?: LedgerProblem;
}

/**
 * Checks every entry of a ledger log: record checksums and index sequence, that each entry is a
 * canonical receipt signed by all of its parties, and that each record's seal (the owner's signed
 * tree head after that entry) verifies — which locates any removed, reordered or rewritten entry.
 * Then checks the stored checkpoint against the entries. Never throws for a bad ledger: the first
 * problem is returned with its index.
 * @example
 * ```ts
 * const r = verifyLedgerBytes(logBytes, { publicKey: owner, checkpoint: text });
 * if (!r.ok) console.error(`entry ${r.problem?.index}: ${r.problem?.message}`);
 * ```
 */
export function verifyLedgerBytes(log: Uint8Array, options: VerifyLedgerOptions = {}): VerifyLedgerResult {
  return verifyAndLoad(log, options).result;
}

/** The verified content of a ledger (internal: what the read-only CLI commands work from). */
export interface LoadedLedger {
  result: VerifyLedgerResult;
  tree: MerkleTree;
  /** The good records, in order. */
  records: LogRecord[];
}

/** {@link verifyLedgerBytes}, also returning the tree and records it checked. */
export function verifyAndLoad(log: Uint8Array, options: VerifyLedgerOptions = {}): LoadedLedger {
  assertBytes(log, 'log');
  const records: LogRecord[] = [];
  if (options.publicKey !== undefined) assertBytes(options.publicKey, 'options.publicKey', 32);
  const tree = new MerkleTree();
  const result: VerifyLedgerResult = { ok: false, ownerKeyPinned: options.publicKey !== undefined, size: 0, root: tree.root(), tornTailBytes: 0 };
  const fail = (message: string, index?: number): LoadedLedger => {
    result.size = tree.size;
    result.root = tree.root();
    result.problem = index === undefined ? { message } : { index, message };
    records.length = tree.size;
    return { result, tree, records };
  };

  let headerLength: number;
  let origin: string;
  let owner: Uint8Array;
  try {
    const h = decodeLogHeader(log);
    headerLength = h.length;
    origin = h.header.origin;
    owner = h.header.ownerPublicKey;
  } catch (e) {
    return fail(`header: ${(e as Error).message}`);
  }
  result.origin = origin;
  result.ownerPublicKey = owner;
  if (options.publicKey !== undefined && !equalBytes(options.publicKey, owner)) {
    return fail('header: the ledger is owned by a different key than the one given');
  }

  const scan = scanRecords(log, headerLength, 0);
  for (const rec of scan.records) {
    const i = rec.index;
    try {
      decodeAndVerifyReceipt(rec.entry, { verify: ed25519Verify });
    } catch (e) {
      if (e instanceof MalformedMessageError) return fail(`entry is not a canonical receipt (${e.message})`, i);
      if (e instanceof VerificationFailedError) return fail(`receipt signature check failed (${e.message})`, i);
      return fail(`entry rejected (${(e as Error).message})`, i);
    }
    tree.append(hashLeaf(rec.entry));
    records.push(rec);
    const body = formatCheckpointBody({ origin, size: tree.size, root: tree.root() });
    if (!ed25519Verify(owner, utf8(body), rec.seal)) {
      tree.truncate(i);
      return fail('seal (the owner-signed tree head after this entry) does not verify: this entry or one before it was altered, removed or reordered', i);
    }
    if (options.onProgress && tree.size % 1000 === 0) options.onProgress(tree.size);
  }
  if (scan.stop.kind === 'corrupt') return fail(scan.stop.reason, scan.stop.index);
  if (scan.stop.kind === 'torn') result.tornTailBytes = scan.stop.bytes;

  if (options.checkpoint !== undefined) {
    let cpSize: number;
    let cpRoot: Uint8Array;
    try {
      const cp = verifyCheckpoint(options.checkpoint, owner, { origin });
      cpSize = cp.size;
      cpRoot = cp.root;
    } catch (e) {
      return fail(`checkpoint: ${(e as Error).message}`);
    }
    result.checkpointSize = cpSize;
    if (cpSize > tree.size) {
      const what = scan.stop.kind === 'torn' ? 'is incomplete' : 'is missing';
      return fail(`entry ${what}: the signed checkpoint covers ${cpSize} entries but the log holds ${tree.size}`, tree.size);
    }
    if (!equalBytes(cpRoot, tree.root(cpSize))) return fail(`checkpoint: root does not match entries 0..${cpSize - 1}`);
  }
  result.ok = true;
  result.size = tree.size;
  result.root = tree.root();
  return { result, tree, records };
}
