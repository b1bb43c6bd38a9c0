/**
 * The authenticated path of `dataport psi`: `runPsi` (mutual authentication, terms, session
 * binding, ECDH-PSI, co-signed receipt) with the CLI's terms and listener policy, and the receipt
 * appended to `--ledger`.
 *
 * Listener policy: the requester's `--reveal`, `--count-only` and `--truncate` must equal the
 * listener's own, and when the listener was given `--purpose`, the purpose too. Anything else is
 * refused on both sides with the reason (the refusal itself gets a co-signed receipt).
 * @module
 */
import type { UsageReceipt } from '../ledger/receipt-types.js';
import type { PsiProgress } from '../protocols/psi/party.js';
import { preparePsiRecords, runPsi, type PsiTerms } from '../session/run-psi.js';
import { PAYLOAD_OPTIONS } from '../session/payload-terms.js';
import { receiptSource } from './summary.js';
import type { SessionPolicy } from '../session/session.js';
import type { FrameTransport } from '../transport/types.js';
import type { PsiContext, PsiRunOutcome } from './psi-context.js';
import type { PsiCliOptions } from './psi-options.js';
import { acceptOnlySchedule, budgetCheck, keySketchHook, noteAbortedRun, recordReceipt } from './ledger-wiring.js';
import { releaseReceiptBody } from '../ledger/release-records.js';
import { signOneSidedReceipt } from '../ledger/receipt.js';
import { toHex } from '../utils/bytes.js';
import { PSI_MESSAGES } from './messages.js';
import type { PsiPayloadSpec } from '../session/run-psi.js';

/** What the terms and the listener's policy depend on (`psi` and `job` alike). */
export type PsiTermsOptions = Pick<PsiCliOptions, 'reveal' | 'countOnly' | 'truncate' | 'purpose'>;

function truncationOf(opts: PsiTermsOptions): 'none' | 128 | 192 {
  return opts.truncate === 0 ? 'none' : opts.truncate;
}

/**
 * The terms a requester proposes for these options.
 * @example
 * ```ts
 * const terms = termsOf(opts); // { reveal: 'requester', countOnly: false, truncation: 128, purpose: '' }
 * ```
 */
export function termsOf(opts: PsiTermsOptions): PsiTerms {
  return { reveal: opts.reveal, countOnly: opts.countOnly, truncation: truncationOf(opts), purpose: opts.purpose };
}

/**
 * The listener's policy for these options: exactly its own terms.
 * @example
 * ```ts
 * const policy = policyOf(opts);
 * ```
 */
export function policyOf(opts: PsiTermsOptions): SessionPolicy {
  const truncate = String(truncationOf(opts));
  // Only `check`: it tests the same things as the policy's reveal / countOnly / truncation fields,
  // but its refusal reasons name the option to change.
  return {
    check: (terms) => {
      // Reasons go to the peer: they name the listener's terms (not secret) and nothing else.
      const reveal = terms.recipients.includes('responder') ? 'both' : 'requester';
      if (reveal !== opts.reveal) return `the listener runs with --reveal ${opts.reveal}, the request asks for --reveal ${reveal}`;
      const countOnly = terms.options['count-only'] === 'true';
      if (countOnly !== opts.countOnly) {
        return opts.countOnly ? 'the listener runs with --count-only' : 'the listener does not run with --count-only';
      }
      const t = terms.options['truncate'];
      if (t !== truncate) return `the listener runs with --truncate ${opts.truncate}, the request asks for ${t === 'none' ? 0 : t}`;
      if (opts.purpose !== '' && terms.purpose !== opts.purpose) return 'the purpose differs from the one the listener was started with';
      return undefined;
    },
  };
}

/**
 * The listener's payload: with `--payload-tolerance`, each session's release (fingerprinted for
 * its requester) is appended to the ledger as a release entry before any payload is sent
 * (`--payload-tolerance` needs `--ledger`: psi-options.ts).
 */
function releaseSpec(ctx: PsiContext): PsiPayloadSpec {
  const p = ctx.payload!;
  const spec: PsiPayloadSpec = { columns: p.columns, rows: p.rows, maxBytes: p.maxBytes };
  if (Object.keys(p.tolerance).length === 0) return spec;
  const { ledger, identity } = ctx;
  return {
    ...spec,
    tolerance: p.tolerance,
    onRelease: async ({ record, marked, sessionId, purpose }) => {
      const body = releaseReceiptBody(record, { owner: identity!.publicKey, sourceProtocol: 'ecdh-psi', purpose, runSessionId: sessionId });
      const { index } = await ledger!.append(signOneSidedReceipt(identity!, body));
      process.stderr.write(`${PSI_MESSAGES.payloadReleaseRecorded(toHex(record.releaseId), marked, index, ledger!.dir)}\n`);
    },
  };
}

/**
 * Normalises the input's keys once, before the requester connects or the listener listens: 2^20
 * keys take seconds (more on a loaded machine), which must not be spent inside the peer's
 * handshake deadline.
 */
export async function preparePsiKeys(ctx: PsiContext, signal?: AbortSignal): Promise<void> {
  if (ctx.opts.insecureInterop) return; // interop mode hashes raw ids, without the session layer
  // With --payload the listener passes every data row (several rows may share a key).
  ctx.prepared ??= await preparePsiRecords(ctx.payload?.records ?? ctx.input.fields, { keySchema: { columns: ctx.opts.keyColumns }, ...(signal ? { signal } : {}) });
}

/**
 * Runs one authenticated PSI session over `transport`; appends the receipt to `ledger` when given
 * (for completed, withheld and refused runs alike: every receipt both parties signed), the
 * co-signed billing priced with `ctx.schedule` (or the peer's schedule); with `ctx.budget`, refuses the run once the authenticated peer's
 * budget in the ledger is spent (on both sides, with the reason).
 * @example
 * ```ts
 * const outcome = await runSessionPsi(ctx, 'requester', transport, signal, () => {});
 * ```
 */
export async function runSessionPsi(
  ctx: PsiContext,
  role: 'requester' | 'responder',
  transport: FrameTransport,
  signal: AbortSignal,
  onProgress: (p: PsiProgress) => void,
): Promise<PsiRunOutcome> {
  const { opts, ledger } = ctx;
  let appended: { dir: string; index: number } | undefined;
  let last: UsageReceipt | undefined;
  const onReceipt = async (receipt: UsageReceipt) => {
    last = receipt;
    if (ledger) {
      const { index } = await recordReceipt(ledger, receipt);
      appended = { dir: ledger.dir, index };
      if (receipt.body.outcome !== 'completed' && receipt.kind !== 'one-sided') {
        process.stderr.write(`receipt of the ${receipt.body.outcome} run appended to ${ledger.dir} (entry ${index})\n`);
      }
    }
  };
  // A budget is reserved once the peer is authenticated and settled by the appended receipt;
  // released when the run is over, so that a run that failed before its receipt gives it back.
  const budget = ledger && ctx.budget ? budgetCheck(ledger, ctx.budget, role, ctx.input.ids.length) : undefined;
  // PSI with payload: the listener passes every data row (several rows may share a key), the
  // requester its distinct keys as always.
  const payloadIn = ctx.payload;
  const common = {
    // Column names travel only for the messages of a schema mismatch; the count and profile are compared.
    ...(ctx.prepared ? { records: ctx.prepared } : { records: payloadIn !== undefined && role === 'responder' ? payloadIn.records : ctx.input.fields, keySchema: { columns: opts.keyColumns } }),
    suite: opts.suite,
    transport,
    identity: ctx.identity!,
    executor: ctx.executor,
    signal,
    onProgress,
    onReceipt,
    source: receiptSource(ctx.reader.info, opts.query),
    ...keySketchHook(ledger),
    ...(ctx.schedule ? { priceSchedule: ctx.schedule } : {}),
    ...(ctx.acceptSchedule ? { acceptPriceSchedule: acceptOnlySchedule(ctx.acceptSchedule) } : {}),
    ...(budget ? { beforeRun: budget } : {}),
    ...(ctx.peerKey ? { peerPublicKey: ctx.peerKey } : { allowAnyPeer: true }),
  };
  let r;
  try {
    r =
      role === 'requester'
        ? await runPsi({
            ...common,
            role,
            terms: termsOf(opts),
            ...(opts.acceptPayload !== undefined
              ? { payload: { columns: opts.acceptPayload, maxBytes: opts.payloadMaxBytes, ...(opts.payloadTolerance ? { tolerance: opts.payloadTolerance } : {}) } }
              : {}),
          })
        : await runPsi({
            ...common,
            role,
            policy: policyOf(opts),
            ...(payloadIn !== undefined ? { payload: releaseSpec(ctx) } : {}),
          });
  } catch (err) {
    noteAbortedRun(err, last, appended);
    throw err;
  } finally {
    await budget?.release();
  }
  const peer = r.receipt.body.parties.find((p) => p.role !== role);
  let intersection = r.intersectionRows;
  if (payloadIn !== undefined && intersection !== undefined) {
    // Rows of the input → its distinct keys (what the rest of the CLI indexes by).
    const keys = new Set<number>();
    for (const row of intersection) if (payloadIn.keyIndexOfRecord[row]! >= 0) keys.add(payloadIn.keyIndexOfRecord[row]!);
    intersection = [...keys].sort((a, b) => a - b);
  }
  let payload: PsiRunOutcome['payload'];
  if (r.payloadColumns !== undefined) {
    const byKey = new Map<string, string[][]>();
    (r.intersectionRows ?? []).forEach((row, i) => byKey.set(ctx.input.ids[row]!, r.payloads![i]!));
    payload = { columns: r.payloadColumns, byKey, records: r.payloadRecords ?? 0 };
  } else if (payloadIn !== undefined) {
    const recorded = r.receipt.body.options[PAYLOAD_OPTIONS.records];
    payload = { columns: payloadIn.columns, records: recorded !== undefined ? Number(recorded) : null };
  }
  const outcome: PsiRunOutcome = {
    role,
    result: {
      learned: r.learned,
      ...(intersection !== undefined ? { intersection } : {}),
      ...(r.intersectionSize !== undefined ? { intersectionSize: r.intersectionSize } : {}),
      peerSetSize: r.peerDistinctKeys,
      selfSetSize: r.distinctKeys,
      bytesSent: r.bytesSent,
      bytesReceived: r.bytesReceived,
    },
    receipt: r.receipt,
    ...(payload !== undefined ? { payload } : {}),
    bytesSent: r.bytesSent,
    bytesReceived: r.bytesReceived,
    ...(peer ? { peerPublicKey: peer.publicKey } : {}),
    ...(appended ? { ledger: appended } : {}),
    // The co-signed amount (whichever party's schedule priced it).
    ...(r.receipt.body.billing ? { billing: r.receipt.body.billing } : {}),
  };
  return outcome;
}
