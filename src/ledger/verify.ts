/**
 * Offline verification of a ledger from its files' bytes and the owner's public key
 * (DESIGN.md §7). Runtime-neutral: an auditor can run it anywhere.
 * @module
 */
import { LedgerIntegrityError, MalformedMessageError, VerificationFailedError } from '../errors.js';
import { assertBytes, equalBytes, utf8 } from '../utils/bytes.js';
import { formatCheckpointBody, verifyCheckpoint } from './checkpoint.js';
import { ed25519Verify } from './hash.js';
import { decodeLogHeader, scanRecords } from './log-format.js';
import type { LogRecord } from './log-format.js';
import { MerkleTree, hashLeaf, verifyConsistencyProof } from './merkle.js';
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
  /**
   * Text of the stored checkpoint file. Without it verification fails (the checkpoint is what
   * says how many entries there were) unless `allowMissingCheckpoint` is set.
   */
  checkpoint?: string;
  /**
   * Accept a ledger without a stored checkpoint: legitimate only for a log being migrated or
   * recovered without its `checkpoint` file, and then only together with `witnesses` saved elsewhere.
   */
  allowMissingCheckpoint?: boolean;
  /**
   * Checkpoints of this ledger saved earlier by someone else (see {@link checkWitness}): each must be
   * signed by the owner, and the ledger must extend it. `name` (e.g. the file) is used in messages.
   */
  witnesses?: readonly WitnessCheckpoint[];
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
  /** Sizes covered by the `witnesses` given, in their order (all checked when `ok`). */
  witnessSizes?: number[];
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

  if (options.checkpoint === undefined && options.allowMissingCheckpoint !== true) {
    return fail(
      `checkpoint is missing: the log holds ${tree.size} entries and there is no signed checkpoint to say how many it held (deleting it hides removed entries)`,
    );
  }
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
  if (options.witnesses !== undefined) {
    const view = treeView(tree, origin, owner);
    result.witnessSizes = [];
    for (const w of options.witnesses) {
      try {
        result.witnessSizes.push(checkWitness(view, w).size);
      } catch (e) {
        if (e instanceof TypeError) throw e;
        return fail((e as Error).message);
      }
    }
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

/**
 * A checkpoint of a ledger saved earlier, outside the owner's reach (by the counterparty, the port
 * operator or an auditor): the text of a `checkpoint` file or of `dataport ledger checkpoint`.
 * @example
 * ```ts
 * const w: WitnessCheckpoint = { name: 'peer-copy.cp', text: readFileSync('peer-copy.cp', 'utf8') };
 * ```
 */
export interface WitnessCheckpoint {
  /** The signed note. */
  text: string;
  /** What to call it in messages (e.g. its file name); default `witness`. */
  name?: string;
}

/**
 * What {@link checkWitness} needs of a ledger: an open `Ledger`, a `LedgerSnapshot` (dataport/node)
 * or a verified tree.
 * @example
 * ```ts
 * checkWitness(await readLedgerSnapshot(dir), { text });
 * ```
 */
export interface WitnessTarget {
  readonly origin: string;
  readonly ownerPublicKey: Uint8Array;
  readonly size: number;
  root(size?: number): Uint8Array;
  consistencyProof(size1: number, size2?: number): Uint8Array[];
}

function treeView(tree: MerkleTree, origin: string, owner: Uint8Array): WitnessTarget {
  return {
    origin,
    ownerPublicKey: owner,
    size: tree.size,
    root: (n?: number) => tree.root(n),
    consistencyProof: (m: number, n?: number) => tree.consistencyProof(m, n),
  };
}

/**
 * Checks that a ledger extends a checkpoint saved earlier (a witness copy): the witness must be a
 * checkpoint of this ledger's origin signed by its owner, no larger than the ledger, and the
 * ledger's tree must be consistent with it (RFC 9162 consistency proof from the witness's size to
 * the current size, computed from the entries and verified against both roots). Catches a
 * ledger cut below the witness's size, and one rewritten by its owner (entries dropped, reordered
 * or replaced and every seal signed again) — which nothing inside the ledger can reveal.
 * Returns the witness; throws `LedgerIntegrityError` naming both sizes when the ledger does not
 * extend it (or when it is not a valid checkpoint of this ledger).
 * @example
 * ```ts
 * const snap = await readLedgerSnapshot('./ledger', { publicKey });
 * checkWitness(snap, { name: 'from-hospital.cp', text: witnessText });
 * ```
 */
export function checkWitness(ledger: WitnessTarget, witness: WitnessCheckpoint): { size: number; root: Uint8Array } {
  if (witness === null || typeof witness !== 'object' || typeof witness.text !== 'string') {
    throw new TypeError('witness.text must be a string');
  }
  const name = witness.name ?? 'witness';
  let size: number;
  let root: Uint8Array;
  try {
    ({ size, root } = verifyCheckpoint(witness.text, ledger.ownerPublicKey, { origin: ledger.origin }));
  } catch (e) {
    if (e instanceof TypeError) throw e;
    const why = e instanceof MalformedMessageError ? (e as Error).message : `not a checkpoint of this ledger signed by its owner (${(e as Error).message})`;
    throw new LedgerIntegrityError(`witness ${name}: ${why}`);
  }
  const n = ledger.size;
  if (size > n) {
    throw new LedgerIntegrityError(
      `witness ${name} covers ${size} entries but the ledger holds only ${n}: entries ${n}..${size - 1} were removed after the witness was saved`,
      { index: n },
    );
  }
  const current = ledger.root(n);
  const consistent =
    size === 0
      ? equalBytes(root, ledger.root(0))
      : (() => {
          try {
            verifyConsistencyProof(size, n, ledger.consistencyProof(size, n), root, current);
            return true;
          } catch {
            return false;
          }
        })();
  if (!consistent) {
    throw new LedgerIntegrityError(
      `witness ${name} (size ${size}) is not a prefix of the ledger (size ${n}): the ledger's first ${size} entries differ from those the witness signed (rewritten, removed or reordered since)`,
    );
  }
  return { size, root };
}
