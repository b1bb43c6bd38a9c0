/**
 * What the dashboard knows of its ledgers: each one read and fully verified
 * (`readLedgerSnapshot`: checksums, receipt signatures, seals, checkpoint), its witnesses checked,
 * and its entries indexed once. Re-read only when a ledger's files change (size or mtime), so a
 * page that polls costs a few `stat` calls.
 *
 * Across several ledgers (`--ledger A,B`) a co-signed run recorded in two of them (the operator's
 * and a member's) is one run: runs are de-duplicated by the SHA-256 of the receipt body both
 * parties signed, and counted for the first ledger given that holds it.
 * @module
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DataportError, InputError } from '../errors.js';
import { checkWitness, isRunReceipt, parseCheckpoint } from '../ledger/index.js';
import type { UsageReceipt, WitnessCheckpoint } from '../ledger/index.js';
import { sha256 } from '../ledger/hash.js';
import { LEDGER_FILES, readLedgerSnapshot } from '../ledger/node.js';
import type { LedgerSnapshot } from '../ledger/node.js';
import { encodedBodyOf } from '../ledger/receipt.js';
import { toBase64, toHex } from '../utils/bytes.js';

/** A ledger directory to show, and the owner key to pin (else the header's key is trusted). */
export interface DashboardLedgerSource {
  dir: string;
  publicKey?: Uint8Array;
}

/** A witness checkpoint's verdict. */
export interface WitnessStatus {
  name: string;
  /** Origin line of the checkpoint (which ledger it is for). */
  origin: string;
  /** Index of the ledger it is a checkpoint of, or -1 for none of them. */
  ledger: number;
  ok: boolean;
  size?: number;
  problem?: string;
}

/** One ledger as loaded. */
export interface LoadedLedger {
  index: number;
  dir: string;
  /** Absent when the ledger could not be read or failed verification (`problem` says why). */
  snapshot?: LedgerSnapshot;
  problem?: string;
  /** The directory holds no ledger (or cannot be read). */
  missing?: boolean;
  /** Decoded entries of `snapshot`. */
  receipts: UsageReceipt[];
  /** Per entry, the base64 keys of its parties other than the owner (computed once per load). */
  counterparties: string[][];
}

/** An entry of some ledger. */
export interface EntryRef {
  ledger: number;
  index: number;
  receipt: UsageReceipt;
  /** Base64 keys of its parties other than the ledger's owner (computed once per load). */
  counterparties: string[];
}

/** Everything loaded, indexed. */
export interface DashboardData {
  ledgers: LoadedLedger[];
  witnesses: WitnessStatus[];
  /** Joint runs, de-duplicated across ledgers, in ledger then entry order. */
  runs: EntryRef[];
  /** `release` and `trace` entries. */
  records: EntryRef[];
  loadedAt: number;
}

async function fileStamp(path: string): Promise<string> {
  try {
    const s = await stat(path);
    return `${s.size}:${s.mtimeMs}:${s.ino}`;
  } catch {
    return '-';
  }
}

/**
 * What changes when the ledger's files change. (The budget reservations are not part of it: they
 * are read for every budgets request, and a run starting must not cost a re-verification.)
 */
async function ledgerStamp(dir: string): Promise<string> {
  const parts = await Promise.all([LEDGER_FILES.log, LEDGER_FILES.checkpoint].map((f) => fileStamp(join(dir, f))));
  return parts.join('|');
}

async function loadLedger(index: number, source: DashboardLedgerSource): Promise<LoadedLedger> {
  try {
    const snapshot = await readLedgerSnapshot(source.dir, source.publicKey === undefined ? {} : { publicKey: source.publicKey });
    const receipts = snapshot.receipts();
    const owner = toBase64(snapshot.ownerPublicKey);
    const counterparties = receipts.map((r) => r.body.parties.map((p) => toBase64(p.publicKey)).filter((k) => k !== owner));
    return { index, dir: source.dir, snapshot, receipts, counterparties };
  } catch (err) {
    // A ledger that fails verification is shown as failed, with its first problem; its entries
    // are not used (nothing in it can be trusted). Other errors (a bug, no memory) propagate.
    if (err instanceof DataportError) return { index, dir: source.dir, problem: err.message, receipts: [], counterparties: [], ...(err instanceof InputError ? { missing: true } : {}) };
    throw err;
  }
}

function checkWitnesses(ledgers: readonly LoadedLedger[], witnesses: readonly WitnessCheckpoint[]): WitnessStatus[] {
  return witnesses.map((w) => {
    const name = w.name ?? 'witness';
    let origin: string;
    try {
      origin = parseCheckpoint(w.text).origin;
    } catch (err) {
      return { name, origin: '', ledger: -1, ok: false, problem: (err as Error).message };
    }
    const l = ledgers.find((x) => (x.snapshot?.origin ?? null) === origin);
    if (l === undefined || l.snapshot === undefined) return { name, origin, ledger: l?.index ?? -1, ok: false, ...(l ? { problem: l.problem ?? '' } : {}) };
    try {
      const { size } = checkWitness(l.snapshot, w);
      return { name, origin, ledger: l.index, ok: true, size };
    } catch (err) {
      if (!(err instanceof DataportError)) throw err;
      return { name, origin, ledger: l.index, ok: false, problem: err.message };
    }
  });
}

function index(ledgers: readonly LoadedLedger[]): Pick<DashboardData, 'runs' | 'records'> {
  const seen = new Set<string>();
  const runs: EntryRef[] = [];
  const records: EntryRef[] = [];
  for (const l of ledgers) {
    l.receipts.forEach((receipt, i) => {
      const ref = { ledger: l.index, index: i, receipt, counterparties: l.counterparties[i]! };
      // Release and trace records are not runs: never in usage, billing or budgets.
      if (!isRunReceipt(receipt)) {
        records.push(ref);
        return;
      }
      // One-sided receipts are each party's own record: only co-signed ones can be in two ledgers.
      if (receipt.kind !== 'one-sided') {
        const id = toHex(sha256(encodedBodyOf(l.snapshot!.entries[i]!)));
        if (seen.has(id)) return;
        seen.add(id);
      }
      runs.push(ref);
    });
  }
  return { runs, records };
}

/**
 * Loads the ledgers and keeps them current.
 * @example
 * ```ts
 * const store = createLedgerStore([{ dir: './ledger' }], []);
 * const data = await store.current();
 * ```
 */
export interface LedgerStore {
  /** The data, re-read first if any ledger's files changed since the last load. */
  current(): Promise<DashboardData>;
}

/**
 * A {@link LedgerStore} over `sources`. The first load throws `InputError` when a directory holds
 * no ledger (a mistyped `--ledger`); later, a ledger that disappears is shown as failed.
 * @example
 * ```ts
 * const store = createLedgerStore([{ dir: './ledger', publicKey }], witnesses);
 * ```
 */
export function createLedgerStore(sources: readonly DashboardLedgerSource[], witnesses: readonly WitnessCheckpoint[]): LedgerStore {
  let data: DashboardData | undefined;
  let stamps: string[] = [];
  let loading: Promise<DashboardData> | undefined;
  const load = async (): Promise<DashboardData> => {
    const next = await Promise.all(sources.map((s) => ledgerStamp(s.dir)));
    if (data !== undefined && next.every((s, i) => s === stamps[i])) return data;
    const ledgers = await Promise.all(sources.map((s, i) => loadLedger(i, s)));
    if (data === undefined) {
      const missing = ledgers.find((l) => l.missing === true);
      if (missing) throw new InputError(missing.problem!);
    }
    stamps = next;
    data = { ledgers, witnesses: checkWitnesses(ledgers, witnesses), ...index(ledgers), loadedAt: Date.now() };
    return data;
  };
  return {
    current(): Promise<DashboardData> {
      // Concurrent requests share one load.
      loading ??= load().finally(() => {
        loading = undefined;
      });
      return loading;
    },
  };
}
