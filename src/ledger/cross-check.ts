/**
 * Cross-checking two parties' ledgers: every co-signed receipt of a run between them belongs in
 * both. A party that deleted or withheld one (its own ledger re-sealed, so that `ledger verify`
 * calls it intact) is caught by the other's copy. Runtime-neutral: the inputs are entry bytes and
 * the JSON of `dataport ledger export`.
 * @module
 */
import { MalformedMessageError, VerificationFailedError } from '../errors.js';
import { equalBytes, fromBase64, toHex } from '../utils/bytes.js';
import { verifyCheckpoint } from './checkpoint.js';
import { ed25519Verify, sha256 } from './hash.js';
import { MerkleTree, hashLeaf } from './merkle.js';
import { RECEIPT_LIMITS, decodeAndVerifyReceipt, decodeReceipt, encodedBodyOf } from './receipt.js';
import type { UsageReceipt } from './receipt-types.js';

/**
 * Limits on a peer's ledger export (an untrusted file).
 * @example
 * ```ts
 * if (bytes > LEDGER_EXPORT_LIMITS.maxBytes) throw new Error('too large');
 * ```
 */
export const LEDGER_EXPORT_LIMITS = {
  maxBytes: 256 * 1024 * 1024,
  maxEntries: 1_000_000,
  /** The largest canonical receipt: kind, body length, body, signature count, signatures. */
  maxEntryBytes: 1 + 4 + RECEIPT_LIMITS.maxBodyBytes + 1 + RECEIPT_LIMITS.maxSignatures * 96,
} as const;

/**
 * One party's ledger, verified: its owner and its entries' exact bytes, in order.
 * @example
 * ```ts
 * const mine: LedgerEntries = { ownerPublicKey: snap.ownerPublicKey, origin: snap.origin, entries: snap.entries };
 * ```
 */
export interface LedgerEntries {
  origin: string;
  ownerPublicKey: Uint8Array;
  entries: readonly Uint8Array[];
}

/**
 * Parses and verifies the JSON of a peer's `dataport ledger export` (docs/ledger.md): every entry
 * (`leaf`, the exact bytes; the decoded `entry` is ignored) is a receipt whose signatures verify
 * (one-sided ones by the export's owner), indices run 0..size-1, and the tree of the leaves has the
 * export's root and the checkpoint the owner signed. `peerKey` pins the owner (it must then equal
 * `ownerPublicKey` if the export names one; an export without it needs `peerKey`). Throws
 * `MalformedMessageError` (one line, with the entry index) for anything else.
 * @example
 * ```ts
 * const peer = parseLedgerExport(JSON.parse(text), peerKey);
 * ```
 */
export function parseLedgerExport(json: unknown, peerKey?: Uint8Array): LedgerEntries {
  const bad = (what: string): never => {
    throw new MalformedMessageError(`not a ledger export: ${what}`);
  };
  if (json === null || typeof json !== 'object' || Array.isArray(json)) bad('not a JSON object');
  const o = json as Record<string, unknown>;
  if (typeof o.origin !== 'string') bad('origin must be a string');
  if (typeof o.checkpoint !== 'string') bad('checkpoint must be a string');
  if (!Number.isSafeInteger(o.size) || (o.size as number) < 0) bad('size must be a non-negative integer');
  if (!Array.isArray(o.entries)) bad('entries must be an array');
  const entriesJson = o.entries as unknown[];
  if (entriesJson.length > LEDGER_EXPORT_LIMITS.maxEntries) bad(`more than ${LEDGER_EXPORT_LIMITS.maxEntries} entries`);
  if (entriesJson.length !== o.size) bad(`size is ${String(o.size)} but it lists ${entriesJson.length} entries`);
  const b64 = (v: unknown, what: string, length?: number): Uint8Array => {
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) return bad(`${what} is not base64`);
    const bytes = fromBase64(v);
    if (length !== undefined && bytes.length !== length) bad(`${what} must be ${length} bytes`);
    return bytes;
  };
  let owner: Uint8Array;
  if (o.ownerPublicKey !== undefined) {
    owner = b64(o.ownerPublicKey, 'ownerPublicKey', 32);
    if (peerKey !== undefined && !equalBytes(owner, peerKey)) bad('it is the ledger of another key than the given peer key');
  } else if (peerKey !== undefined) {
    owner = peerKey;
  } else {
    return bad('no ownerPublicKey (give the peer key)');
  }
  const root = b64(o.root, 'root', 32);
  const tree = new MerkleTree();
  const entries: Uint8Array[] = [];
  entriesJson.forEach((e, i) => {
    if (e === null || typeof e !== 'object') bad(`entry ${i} is not an object`);
    const { index, leaf } = e as Record<string, unknown>;
    if (index !== i) bad(`entry ${i} has index ${String(index)}`);
    if (typeof leaf === 'string' && leaf.length > Math.ceil(LEDGER_EXPORT_LIMITS.maxEntryBytes / 3) * 4) bad(`entry ${i} is too large`);
    const bytes = b64(leaf, `entry ${i} leaf`);
    try {
      decodeAndVerifyReceipt(bytes, { verify: ed25519Verify, oneSidedSigner: owner });
    } catch (err) {
      if (err instanceof MalformedMessageError || err instanceof VerificationFailedError) bad(`entry ${i}: ${err.message}`);
      throw err;
    }
    tree.append(hashLeaf(bytes));
    entries.push(bytes);
  });
  if (!equalBytes(tree.root(), root)) bad('root does not match its entries');
  let cp;
  try {
    cp = verifyCheckpoint(o.checkpoint as string, owner, { origin: o.origin as string });
  } catch (err) {
    return bad(`checkpoint: ${(err as Error).message}`);
  }
  if (cp.size !== entries.length || !equalBytes(cp.root, root)) bad(`checkpoint covers ${cp.size} entries, not the ${entries.length} listed`);
  return { origin: o.origin as string, ownerPublicKey: owner, entries };
}

/**
 * One receipt in a cross-check report.
 * @example
 * ```ts
 * for (const d of report.missingAtPeer) console.log(d.index, d.receipt.body.protocol);
 * ```
 */
export interface CrossCheckItem {
  /** Index in the ledger that holds it (`index`: mine; `peerIndex`: the peer's). */
  index?: number;
  peerIndex?: number;
  /** The receipt as held (mine where I hold it, else the peer's). */
  receipt: UsageReceipt;
  /** For `different`: what differs (`body` or `signatures`). */
  differs?: 'body' | 'signatures';
}

/**
 * Result of {@link crossCheckLedgers}. `agree` is true when no co-signed receipt of a run between
 * the two owners is missing on either side or different.
 * @example
 * ```ts
 * const r = crossCheckLedgers(mine, peer);
 * if (!r.agree) console.log(r.missingAtPeer.length, r.missingHere.length, r.different.length);
 * ```
 */
export interface CrossCheckResult {
  agree: boolean;
  /** Co-signed receipts between the two owners found identical in both. */
  matched: number;
  /** Co-signed receipts between us that I hold and the peer lacks. */
  missingAtPeer: CrossCheckItem[];
  /** Co-signed receipts between us that the peer holds and I lack. */
  missingHere: CrossCheckItem[];
  /** Same session, different body or signatures. */
  different: CrossCheckItem[];
  /** One-sided receipts (information only: never expected in the other ledger) naming the other owner. */
  oneSidedHere: CrossCheckItem[];
  oneSidedAtPeer: CrossCheckItem[];
}

interface Held {
  index: number;
  entry: Uint8Array;
  receipt: UsageReceipt;
  session: string;
  key: string;
}

/** Entries of `ledger` that concern `other` (it is a party), split by kind. */
function concerning(ledger: LedgerEntries, other: Uint8Array): { coSigned: Held[]; oneSided: CrossCheckItem[] } {
  const coSigned: Held[] = [];
  const oneSided: CrossCheckItem[] = [];
  ledger.entries.forEach((entry, index) => {
    // Already verified by the caller (readLedgerSnapshot / parseLedgerExport): decoding only.
    const receipt = decodeReceipt(entry);
    if (!receipt.body.parties.some((p) => equalBytes(p.publicKey, other))) return;
    if (receipt.kind === 'one-sided') {
      oneSided.push({ index, receipt });
      return;
    }
    const session = toHex(receipt.body.sessionId);
    coSigned.push({ index, entry, receipt, session, key: `${session}:${toHex(sha256(encodedBodyOf(entry)))}` });
  });
  return { coSigned, oneSided };
}

/**
 * Compares two verified ledgers: every co-signed receipt of a run between their owners (matched by
 * session id and body hash) must be in both, with the same signatures. One-sided receipts are
 * listed apart, as information. Receipts of runs with third parties are ignored.
 * @example
 * ```ts
 * const r = crossCheckLedgers(
 *   { origin: snap.origin, ownerPublicKey: snap.ownerPublicKey, entries: snap.entries },
 *   parseLedgerExport(JSON.parse(peerExportText)),
 * );
 * ```
 */
export function crossCheckLedgers(mine: LedgerEntries, peer: LedgerEntries): CrossCheckResult {
  if (equalBytes(mine.ownerPublicKey, peer.ownerPublicKey)) throw new RangeError('peer: both ledgers have the same owner; cross-check compares two parties');
  const here = concerning(mine, peer.ownerPublicKey);
  const there = concerning(peer, mine.ownerPublicKey);
  const byKey = new Map<string, Held[]>();
  for (const h of there.coSigned) byKey.set(h.key, [...(byKey.get(h.key) ?? []), h]);
  const result: CrossCheckResult = {
    agree: true,
    matched: 0,
    missingAtPeer: [],
    missingHere: [],
    different: [],
    oneSidedHere: here.oneSided,
    oneSidedAtPeer: there.oneSided.map((i) => ({ peerIndex: i.index!, receipt: i.receipt })),
  };
  const unmatchedHere: Held[] = [];
  for (const h of here.coSigned) {
    const candidates = byKey.get(h.key);
    const p = candidates?.shift();
    if (!p) {
      unmatchedHere.push(h);
      continue;
    }
    if (equalBytes(h.entry, p.entry)) result.matched++;
    else result.different.push({ index: h.index, peerIndex: p.index, receipt: h.receipt, differs: 'signatures' });
  }
  const unmatchedThere = [...byKey.values()].flat().sort((a, b) => a.index - b.index);
  const thereBySession = new Map<string, Held[]>();
  for (const p of unmatchedThere) thereBySession.set(p.session, [...(thereBySession.get(p.session) ?? []), p]);
  const pairedThere = new Set<Held>();
  for (const h of unmatchedHere) {
    const p = thereBySession.get(h.session)?.shift();
    if (p) {
      pairedThere.add(p);
      result.different.push({ index: h.index, peerIndex: p.index, receipt: h.receipt, differs: 'body' });
    } else {
      result.missingAtPeer.push({ index: h.index, receipt: h.receipt });
    }
  }
  for (const p of unmatchedThere) if (!pairedThere.has(p)) result.missingHere.push({ peerIndex: p.index, receipt: p.receipt });
  result.different.sort((a, b) => a.index! - b.index!);
  result.agree = result.missingAtPeer.length === 0 && result.missingHere.length === 0 && result.different.length === 0;
  return result;
}
