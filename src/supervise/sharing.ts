/**
 * The sharing records of GB/T 35273-2020 §9.2 (a record of each sharing of personal information:
 * date, scale, purpose, recipient) read from a ledger's receipts. Every field comes from what the
 * parties signed: the run's start and end (`startedAt`, `endedAt`), its scale (`inputSizes`,
 * `outputSizes`), `purpose`, and the recipients — the `recipients` option the terms fixed (roles
 * mapped to the parties' keys), a release's `recipient`, or a PPCA run's `result-to-rank`. A field
 * a receipt does not hold is listed in `missing` (e.g. an empty purpose), never guessed.
 * @module
 */
import type { UsageReceipt } from '../ledger/receipt-types.js';
import { RELEASE_PROTOCOL, TRACE_PROTOCOL } from '../ledger/release-records.js';
import { equalBytes, toHex } from '../utils/bytes.js';

/**
 * One sharing record.
 * @example
 * ```ts
 * for (const r of sharingRecords(receipts, owner)) console.log(r.date, r.purpose, r.recipients);
 * ```
 */
export interface SharingRecord {
  index: number;
  /** ISO 8601 (UTC) start and end of the run. */
  date: string;
  ended: string;
  protocol: string;
  outcome: string;
  purpose: string;
  /** Records in per role (distinct keys or rows) and released per role. */
  scale: { input: Record<string, number>; output: Record<string, number> };
  /** Who received the output: role and public key (hex; null when the party has no dataport key). */
  recipients: { role: string; publicKey: string | null }[];
  /** The other parties' public keys (hex). */
  counterparties: string[];
  /** Fields of §9.2 the receipt does not record: `purpose`, `recipient`. */
  missing: string[];
}

/** Protocols whose entries are not sharings (a trace hit records a check, not a release). */
const NOT_SHARING = new Set([TRACE_PROTOCOL]);

/**
 * The sharing records of a ledger's entries (all but trace entries; refused runs share nothing and
 * are left out).
 * @example
 * ```ts
 * const records = sharingRecords(snapshot.receipts(), snapshot.ownerPublicKey);
 * ```
 */
export function sharingRecords(receipts: readonly UsageReceipt[], owner: Uint8Array): SharingRecord[] {
  const out: SharingRecord[] = [];
  receipts.forEach((r, index) => {
    const b = r.body;
    if (NOT_SHARING.has(b.protocol) || b.outcome === 'refused') return;
    const keyOf = (role: string): string | null => {
      const p = b.parties.find((x) => x.role === role);
      return p ? toHex(p.publicKey) : null;
    };
    let recipients: SharingRecord['recipients'] = [];
    const o = b.options;
    if (b.protocol === RELEASE_PROTOCOL && o['recipient'] !== undefined) recipients = [{ role: 'recipient', publicKey: /^[0-9a-f]{64}$/.test(o['recipient']) ? o['recipient'] : null }];
    else if (o['recipients'] !== undefined) recipients = o['recipients'].split('+').filter((x) => x !== '').map((role) => ({ role, publicKey: keyOf(role) }));
    else if (o['result-to-rank'] !== undefined) {
      const ranks = /^[01]$/.test(o['result-to-rank']) ? [o['result-to-rank']] : ['0', '1'];
      recipients = ranks.map((n) => ({ role: `rank-${n}`, publicKey: keyOf(`rank-${n}`) }));
    } else recipients = Object.entries(b.outputSizes).filter(([, n]) => n > 0).map(([role]) => ({ role, publicKey: keyOf(role) }));
    const missing: string[] = [];
    if (b.purpose.trim() === '') missing.push('purpose');
    if (recipients.length === 0) missing.push('recipient');
    out.push({
      index,
      date: new Date(b.startedAt).toISOString(),
      ended: new Date(b.endedAt).toISOString(),
      protocol: b.protocol,
      outcome: b.outcome,
      purpose: b.purpose,
      scale: { input: { ...b.inputSizes }, output: { ...b.outputSizes } },
      recipients,
      counterparties: b.parties.filter((p) => !equalBytes(p.publicKey, owner)).map((p) => toHex(p.publicKey)),
      missing,
    });
  });
  return out;
}
