/**
 * `superviseLedger`: reads a ledger directory (verifying it completely), its key sketches and the
 * listeners' refusal logs, runs the supervision rules and returns the alerts, each linked to its
 * ledger entries with inclusion proofs in the tree of the returned head. Node-only (files).
 * @module
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { InputError, LedgerIntegrityError } from '../errors.js';
import { LEDGER_FILES } from '../ledger/file-ledger.js';
import type { KeySketch } from '../ledger/key-sketch.js';
import { verifyLedgerBytesParallel } from '../ledger/parallel-verify.js';
import { decodeReceipt } from '../ledger/receipt.js';
import type { UsageReceipt } from '../ledger/receipt-types.js';
import { printable } from '../ledger/report.js';
import { readKeySketch } from '../ledger/sketch-store.js';
import { checkWitness, type WitnessCheckpoint } from '../ledger/verify.js';
import { readSketchRecord } from '../session/sketch-record.js';
import { assertBytes, equalBytes, fromBase64, fromHex, toHex } from '../utils/bytes.js';
import { alertId, type Alert } from './alert.js';
import { evaluateRules, type RawAlert } from './evaluate.js';
import { SUPERVISE_MESSAGES } from './messages.js';
import { parseRefusalLog, type RefusalRecord } from './refusal-log.js';
import { DEFAULT_SUPERVISION_RULES, type SupervisionRules } from './rules.js';

/** Largest refusal log read (a guard; rotate larger logs). */
export const MAX_REFUSAL_LOG_BYTES = 64 << 20;

/**
 * Options of {@link superviseLedger}.
 * @example
 * ```ts
 * const opts: SuperviseOptions = { ledgerDir: './ledger', rules: parseSupervisionRules(text), listenerLogs: ['refused.jsonl'] };
 * ```
 */
export interface SuperviseOptions {
  ledgerDir: string;
  /** Thresholds (default {@link DEFAULT_SUPERVISION_RULES}). */
  rules?: SupervisionRules;
  /** Clock for the time of ledger and witness alerts (default `Date.now()`). */
  now?: number;
  /** Names for counterparties in messages, keyed by public key (hex or base64). */
  peerLabels?: Readonly<Record<string, string>>;
  /** The owner's public key to pin (default: the key in the ledger header). */
  publicKey?: Uint8Array;
  /** Checkpoints of this ledger saved elsewhere: the ledger must extend each (`witness` alerts). */
  witnesses?: readonly WitnessCheckpoint[];
  /** JSON-lines refusal logs of the listeners (`--refusal-log`). */
  listenerLogs?: readonly string[];
  /** Threads for the signature checks (default: the available cores, at most 8). */
  workers?: number;
}

/**
 * The ledger head the alerts' proofs refer to.
 * @example
 * ```ts
 * console.log(`${head.size} entries, root ${head.root}`);
 * ```
 */
export interface SupervisedHead {
  origin: string;
  /** Hex. */
  ownerPublicKey: string;
  /** Entries verified (when `verified` is false: the good prefix before the problem). */
  size: number;
  /** Root of those entries, hex. */
  root: string;
  /** True when the whole ledger and its checkpoint verified. */
  verified: boolean;
}

/**
 * Result of {@link superviseLedger}.
 * @example
 * ```ts
 * const { alerts, head } = await superviseLedger({ ledgerDir });
 * ```
 */
export interface SuperviseResult {
  alerts: Alert[];
  head: SupervisedHead;
  /** Lines of the listener logs that were not refusal records (left out). */
  refusalLinesSkipped: number;
}

async function readLog(dir: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await fsp.readFile(join(dir, LEDGER_FILES.log)));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new InputError(`no ledger in ${dir} (${LEDGER_FILES.log} not found)`);
    throw e;
  }
}

async function readOptionalText(path: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function readRefusals(paths: readonly string[]): Promise<{ records: RefusalRecord[]; skipped: number }> {
  const records: RefusalRecord[] = [];
  let skipped = 0;
  for (const path of paths) {
    let text: string;
    try {
      const st = await fsp.stat(path);
      if (st.size > MAX_REFUSAL_LOG_BYTES) throw new InputError(`listener log ${path} is larger than ${MAX_REFUSAL_LOG_BYTES} bytes (rotate it)`);
      text = await fsp.readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new InputError(`listener log ${path} not found`);
      throw e;
    }
    const r = parseRefusalLog(text);
    records.push(...r.records);
    skipped += r.skipped;
  }
  return { records, skipped };
}

function labelMap(labels: Readonly<Record<string, string>> | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (typeof v !== 'string') throw new TypeError('peerLabels values must be strings');
    let key: Uint8Array | undefined;
    if (/^[0-9a-fA-F]{64}$/.test(k)) key = fromHex(k.toLowerCase());
    else {
      try {
        key = fromBase64(k);
      } catch {
        key = undefined;
      }
    }
    if (key?.length !== 32) throw new RangeError(`peerLabels key '${k.slice(0, 60)}' is not a hex or base64 Ed25519 public key`);
    m.set(toHex(key), v);
  }
  return m;
}

/**
 * Supervises the ledger in `ledgerDir`: verifies it (an `error` alert `ledger-integrity` names
 * the first bad entry, and the rules then run over the good entries before it), checks the
 * witnesses, reads the key sketches and refusal logs, and runs every rule (docs/supervise.md).
 * Alerts come sorted by time, each with inclusion proofs of its entries in `head`'s tree.
 * @example
 * ```ts
 * const { alerts, head } = await superviseLedger({ ledgerDir: './ledger', rules });
 * for (const a of alerts) console.log(a.level, a.rule, a.message);
 * ```
 */
export async function superviseLedger(opts: SuperviseOptions): Promise<SuperviseResult> {
  if (opts === null || typeof opts !== 'object') throw new TypeError('opts must be an object');
  if (typeof opts.ledgerDir !== 'string' || opts.ledgerDir === '') throw new TypeError('opts.ledgerDir must be a non-empty string');
  if (opts.publicKey !== undefined) assertBytes(opts.publicKey, 'opts.publicKey', 32);
  const now = opts.now ?? Date.now();
  if (!Number.isSafeInteger(now) || now < 0) throw new RangeError('opts.now must be a non-negative integer (ms since the epoch)');
  const rules = opts.rules ?? DEFAULT_SUPERVISION_RULES;
  const labels = labelMap(opts.peerLabels);
  const dir = opts.ledgerDir;

  const log = await readLog(dir);
  const checkpoint = await readOptionalText(join(dir, LEDGER_FILES.checkpoint));
  const { result, tree, records } = await verifyLedgerBytesParallel(log, {
    ...(opts.publicKey ? { publicKey: opts.publicKey } : {}),
    ...(checkpoint !== undefined ? { checkpoint } : {}),
    ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
  });
  if (result.ownerPublicKey === undefined || result.origin === undefined) {
    // No header: nothing to supervise but the failure itself.
    throw new LedgerIntegrityError(result.problem?.message ?? 'ledger header unreadable');
  }
  const owner = result.ownerPublicKey;
  const origin = result.origin;
  const integrity = result.ok ? undefined : result.problem;

  const view = { origin, ownerPublicKey: owner, size: tree.size, root: (n?: number) => tree.root(n), consistencyProof: (m: number, n?: number) => tree.consistencyProof(m, n) };
  const witnessProblems: { name: string; message: string }[] = [];
  for (const w of opts.witnesses ?? []) {
    try {
      checkWitness(view, w);
    } catch (e) {
      if (!(e instanceof LedgerIntegrityError)) throw e;
      witnessProblems.push({ name: w.name ?? 'witness', message: e.message });
    }
  }

  const receipts: UsageReceipt[] = records.map((r) => decodeReceipt(r.entry));
  // The runs' own sketches, read and checked against their commitments before the rules run.
  const sketches = new Map<number, { sketch?: KeySketch; problem?: 'missing' | 'mismatch' | 'malformed' }>();
  for (let i = 0; i < receipts.length; i++) {
    const b = receipts[i]!.body;
    const me = b.parties.find((p) => equalBytes(p.publicKey, owner));
    if (me?.role !== 'requester' && me?.role !== 'responder') continue;
    const rec = readSketchRecord(me.role, b.options);
    if (rec) sketches.set(i, await readKeySketch(dir, toHex(b.sessionId), rec.commit));
  }
  const refusals = await readRefusals(opts.listenerLogs ?? []);

  const raw = evaluateRules({
    owner,
    receipts,
    rules,
    sketches: (index) => sketches.get(index) ?? { problem: 'missing' },
    refusals: refusals.records,
    ...(integrity ? { integrity } : {}),
    witnessProblems,
    now,
  });
  const size = tree.size;
  const alerts = raw.map((a) => render(a, labels, (i) => ({ index: i, leafHash: toHex(tree.leafHash(i)), proof: tree.inclusionProof(i, size).map(toHex) })));
  alerts.sort((x, y) => x.at - y.at || (x.entries[0]?.index ?? -1) - (y.entries[0]?.index ?? -1) || (x.rule < y.rule ? -1 : x.rule > y.rule ? 1 : 0));
  // One alert per identity (a rule can find the same fact twice, e.g. off-hours of a multi-party run).
  const seen = new Set<string>();
  const unique = alerts.filter((a) => {
    const id = alertId(a);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
  return {
    alerts: unique,
    head: { origin, ownerPublicKey: toHex(owner), size, root: toHex(tree.root(size)), verified: result.ok },
    refusalLinesSkipped: refusals.skipped,
  };
}

function render(a: RawAlert, labels: Map<string, string>, entry: (i: number) => Alert['entries'][number]): Alert {
  const hex = a.counterparty ? toHex(a.counterparty) : null;
  const label = hex ? labels.get(hex) : undefined;
  const view = { ...a.details, ...(hex ? { counterpartyShort: hex.slice(0, 16) } : {}), ...(label !== undefined ? { counterpartyLabel: label } : {}) };
  return {
    level: a.level,
    rule: a.rule,
    message: printable(SUPERVISE_MESSAGES[a.rule](view)),
    messageKey: `supervise.${a.rule}`,
    counterparty: hex,
    entries: a.entries.map(entry),
    at: a.at,
    details: a.details,
  };
}
