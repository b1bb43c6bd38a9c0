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
 * canonical receipt signed by all of its parties (or a one-sided receipt signed by the owner), and that each record's seal (the owner's signed
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

/** One Ed25519 check deferred to a batch verifier. `kind` 0 = receipt signature, 1 = seal. */
export interface SignatureTask {
  entry: number;
  kind: 0 | 1;
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}

/** Verifies tasks (in any order, e.g. on worker threads); resolves the first failing position or -1. */
export type BatchSignatureVerifier = (tasks: readonly SignatureTask[]) => Promise<number>;

const SEAL_FAILURE =
  'seal (the owner-signed tree head after this entry) does not verify: this entry or one before it was altered, removed or reordered';
const RECEIPT_CRYPTO_FAILURE = 'receipt signature check failed (receipt signature does not verify)';

/**
 * Phase 1 of verification: header, records, receipt structure and the tree. Signature checks are
 * done at once (`tasks` undefined) or collected into `tasks` for a batch verifier.
 */
function checkEntries(log: Uint8Array, options: VerifyLedgerOptions, tasks: SignatureTask[] | undefined) {
  assertBytes(log, 'log');
  if (options.publicKey !== undefined) assertBytes(options.publicKey, 'options.publicKey', 32);
  const records: LogRecord[] = [];
  const tree = new MerkleTree();
  const result: VerifyLedgerResult = { ok: false, ownerKeyPinned: options.publicKey !== undefined, size: 0, root: tree.root(), tornTailBytes: 0 };
  /** Fails at entry `index` (dropping it and everything after it from the tree), or globally. */
  const fail = (message: string, index?: number): LoadedLedger => {
    if (index !== undefined && index < tree.size) tree.truncate(index);
    records.length = tree.size;
    result.size = tree.size;
    result.root = tree.root();
    result.problem = index === undefined ? { message } : { index, message };
    return { result, tree, records };
  };
  const ctx = { result, tree, records, fail, origin: '', owner: new Uint8Array(32) as Uint8Array, scan: undefined as ReturnType<typeof scanRecords> | undefined };

  let headerLength: number;
  try {
    const h = decodeLogHeader(log);
    headerLength = h.length;
    ctx.origin = h.header.origin;
    ctx.owner = h.header.ownerPublicKey;
  } catch (e) {
    return { ctx, failed: fail(`header: ${(e as Error).message}`) };
  }
  const { origin, owner } = ctx;
  result.origin = origin;
  result.ownerPublicKey = owner;
  if (options.publicKey !== undefined && !equalBytes(options.publicKey, owner)) {
    return { ctx, failed: fail('header: the ledger is owned by a different key than the one given') };
  }

  const scan = scanRecords(log, headerLength, 0);
  ctx.scan = scan;
  for (const rec of scan.records) {
    const i = rec.index;
    // Deferred mode: record the check and assume it passes; the batch verdict comes later.
    const verify = tasks
      ? (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean => {
          tasks.push({ entry: i, kind: 0, publicKey, message, signature });
          return true;
        }
      : ed25519Verify;
    try {
      decodeAndVerifyReceipt(rec.entry, { verify, oneSidedSigner: owner });
    } catch (e) {
      if (e instanceof MalformedMessageError) return { ctx, failed: fail(`entry is not a canonical receipt (${e.message})`, i) };
      if (e instanceof VerificationFailedError) return { ctx, failed: fail(`receipt signature check failed (${e.message})`, i) };
      return { ctx, failed: fail(`entry rejected (${(e as Error).message})`, i) };
    }
    tree.append(hashLeaf(rec.entry));
    records.push(rec);
    const body = utf8(formatCheckpointBody({ origin, size: tree.size, root: tree.root() }));
    if (tasks) tasks.push({ entry: i, kind: 1, publicKey: owner, message: body, signature: rec.seal });
    else if (!ed25519Verify(owner, body, rec.seal)) return { ctx, failed: fail(SEAL_FAILURE, i) };
    if (options.onProgress && tree.size % 1000 === 0) options.onProgress(tree.size);
  }
  return { ctx, failed: undefined };
}

/** Phase 2: the end of the log and the stored checkpoint. */
function checkTailAndCheckpoint(ctx: ReturnType<typeof checkEntries>['ctx'], options: VerifyLedgerOptions): LoadedLedger {
  const { result, tree, records, fail, origin, owner } = ctx;
  const scan = ctx.scan!;
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

/** {@link verifyLedgerBytes}, also returning the tree and records it checked. */
export function verifyAndLoad(log: Uint8Array, options: VerifyLedgerOptions = {}): LoadedLedger {
  const { ctx, failed } = checkEntries(log, options, undefined);
  return failed ?? checkTailAndCheckpoint(ctx, options);
}

/**
 * {@link verifyAndLoad} with the signature checks handed to `batchVerify` (e.g. worker threads).
 * Reports the same first problem as the sequential version: signature tasks are in entry order,
 * so the first failing task is the first entry a sequential check would have stopped at.
 */
export async function verifyAndLoadBatched(log: Uint8Array, options: VerifyLedgerOptions, batchVerify: BatchSignatureVerifier): Promise<LoadedLedger> {
  const tasks: SignatureTask[] = [];
  const { ctx, failed } = checkEntries(log, options, tasks);
  const structuralIndex = failed ? (failed.result.problem?.index ?? -1) : Infinity;
  if (failed && structuralIndex < 0) return failed; // header problems come before any entry
  const bad = tasks.length === 0 ? -1 : await batchVerify(tasks);
  if (bad >= 0 && tasks[bad]!.entry <= structuralIndex) {
    const t = tasks[bad]!;
    // A structural failure may already have truncated the tree: rebuild the failure at t.entry.
    if (failed) failed.result.problem = undefined;
    return ctx.fail(t.kind === 0 ? RECEIPT_CRYPTO_FAILURE : SEAL_FAILURE, t.entry);
  }
  return failed ?? checkTailAndCheckpoint(ctx, options);
}
