/**
 * `dataport ledger verify|checkpoint|cross-check|export|prove|consistency|report --ledger DIR …`
 * (DESIGN.md §7, §8).
 *
 * Every subcommand is read-only and needs no secret key: it reads the ledger's files, verifies
 * them completely (checksums, receipt signatures, per-entry seals, checkpoint) and refuses to
 * answer from a ledger that fails — naming the first bad entry index.
 * @module
 */
import { stat } from 'node:fs/promises';
import { InputError, LedgerIntegrityError, MalformedMessageError } from '../../errors.js';
import {
  LEDGER_EXPORT_LIMITS,
  billRun,
  buildUsageReport,
  crossCheckLedgers,
  formatUsageReport,
  parseLedgerExport,
  priceScheduleRef,
} from '../../ledger/index.js';
import type { CrossCheckItem, CrossCheckResult, LedgerEntries, ReportFormat, ReportGrouping, UsageReceipt } from '../../ledger/index.js';
import { readLedgerSnapshot, verifyLedgerDir } from '../../ledger/node.js';
import { printable } from '../../ledger/report.js';
import type { LedgerSnapshot } from '../../ledger/node.js';
import { parsePublicKeyFile } from '../../session/identity.js';
import { toBase64 } from '../../utils/bytes.js';
import { choiceOption, intOption, parseCommandArgs, stringOption } from '../args.js';
import { writePublicFile } from '../files.js';
import { FILE_MESSAGES, LEDGER_MESSAGES as M, OPTION_MESSAGES as O, outputExistsMessage } from '../messages.js';
import type { OptionSpec, ParsedOptions } from '../args.js';
import { readTextFile } from '../identity-files.js';
import { counterpartyLabels, pinnedKey, witnessFiles } from '../ledger-inputs.js';
import { loadPriceSchedule } from '../ledger-wiring.js';
import { createReporter } from '../summary.js';

const HELP = `usage: dataport ledger <subcommand> --ledger DIR [options]

subcommands:
  verify       --ledger DIR [--public-key FILE] [--witness FILE ...] [--allow-missing-checkpoint]
               [--price-schedule FILE] [--json]
               check every entry, seal and the checkpoint; exit 0 with a summary when intact,
               otherwise exit 1 naming the first bad entry index and what is wrong (this
               catches edits by anyone but the owner: the owner can re-seal a ledger with
               entries dropped or reordered, which only --witness reveals). A missing
               checkpoint file fails (deleting it hides removed entries) unless
               --allow-missing-checkpoint (only for a ledger being restored, with --witness).
               --witness FILE (repeatable): a checkpoint of this ledger saved earlier by someone
               else (the counterparty, the port operator): must be signed by the owner, and the
               ledger must extend it (consistency proof), else exit 1 naming both sizes. This is
               what catches an owner who cut or rewrote the ledger and signed it again.
               With --price-schedule, also recompute the co-signed amount of every entry billed
               with that schedule (same id and SHA-256) and exit 1 on the first that differs
  checkpoint   --ledger DIR [--out FILE [--force]] [--public-key FILE] [--allow-missing-checkpoint]
               the verified ledger's current signed checkpoint (a few lines of text): hand it to
               the counterparty or the port operator after each run to keep as a witness
  cross-check  --ledger DIR --peer-export FILE [--peer-key FILE] [--public-key FILE] [--json]
               compare my ledger with the counterparty's 'ledger export': every co-signed receipt
               of a run between us must be in both (matched by session id and body hash) with the
               same signatures. Lists those I hold and the peer lacks, those the peer holds and I
               lack, and those that differ; one-sided receipts are listed as information only.
               Exit 0 when they agree, 3 when any receipt is missing or different, 1 on error
               (e.g. an export that is not well-formed or whose signatures do not verify)
  export       --ledger DIR [--public-key FILE]
               JSON: origin, ownerPublicKey, size, root, checkpoint (signed note) and every entry
  prove        --ledger DIR --index I [--size N] [--public-key FILE]
               JSON inclusion proof of entry I in the tree of size N (default: current size)
  consistency  --ledger DIR --from M --to N [--public-key FILE]
               JSON consistency proof between tree sizes M and N; against an owner's
               rewrite, check root1 equals the root of a checkpoint you saved at size M
  report       --ledger DIR [--by counterparty|protocol|month|security] [--format table|csv|json]
               usage and the co-signed billed amounts (minor currency units); --by security
               groups runs by protocol and the security model both parties signed (e.g.
               'ecdh-psi semi-honest' for count-only runs; SECURITY.md §1.2)
               [--names FILE] [--keys DIR] label counterparties: FILE is JSON
               {"<base64 key>": "label", ...}; DIR holds NAME.pub files or keygen
               folders NAME/identity.pub (label = NAME); unknown keys stay base64

options:
  --public-key FILE   the owner's identity.pub: pin the owner key instead of trusting the
                      ledger header
  --peer-key FILE     cross-check: the counterparty's identity.pub (pins the export's owner;
                      without it the key in the export is trusted and a warning printed)
  --help              this text

exit codes: 0 success, 1 error or ledger not intact, 2 usage, 3 cross-check found differences`;

const COMMON: Record<string, OptionSpec> = {
  ledger: { type: 'string' },
  'public-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

const SUBCOMMANDS: Record<string, Record<string, OptionSpec>> = {
  verify: {
    ...COMMON,
    json: { type: 'boolean' },
    'price-schedule': { type: 'string' },
    witness: { type: 'string', multiple: true },
    'allow-missing-checkpoint': { type: 'boolean' },
  },
  checkpoint: { ...COMMON, out: { type: 'string' }, force: { type: 'boolean' }, 'allow-missing-checkpoint': { type: 'boolean' } },
  'cross-check': { ...COMMON, 'peer-export': { type: 'string' }, 'peer-key': { type: 'string' }, json: { type: 'boolean' } },
  export: COMMON,
  prove: { ...COMMON, index: { type: 'string' }, size: { type: 'string' } },
  consistency: { ...COMMON, from: { type: 'string' }, to: { type: 'string' } },
  report: { ...COMMON, by: { type: 'string' }, format: { type: 'string' }, names: { type: 'string' }, keys: { type: 'string' } },
};

async function snapshot(values: ParsedOptions): Promise<LedgerSnapshot> {
  const dir = stringOption(values, 'ledger', true);
  const publicKey = await pinnedKey(values);
  return readLedgerSnapshot(dir, {
    ...(publicKey === undefined ? {} : { publicKey }),
    ...(values['allow-missing-checkpoint'] === true ? { allowMissingCheckpoint: true } : {}),
  });
}

const b64 = (bytes: Uint8Array): string => toBase64(bytes);

/** A receipt as JSON: bytes in base64, everything else as is. */
function receiptJson(r: UsageReceipt): unknown {
  const b = r.body;
  return {
    // `one-sided`: signed by `signatures[0]` (the ledger owner) alone; see docs/ledger.md.
    kind: r.kind ?? 'co-signed',
    body: {
      ...b,
      sessionId: b64(b.sessionId),
      parties: b.parties.map((p) => ({ role: p.role, publicKey: b64(p.publicKey) })),
    },
    signatures: r.signatures.map((s) => ({ publicKey: b64(s.publicKey), signature: b64(s.signature) })),
  };
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

async function verify(values: ParsedOptions): Promise<number> {
  const dir = stringOption(values, 'ledger', true);
  const publicKey = await pinnedKey(values);
  const witnesses = await witnessFiles(values);
  const allowMissing = values['allow-missing-checkpoint'] === true;
  const r = await verifyLedgerDir(dir, {
    ...(publicKey === undefined ? {} : { publicKey }),
    ...(allowMissing ? { allowMissingCheckpoint: true } : {}),
    witnesses,
  });
  if (!r.ok) {
    const p = r.problem!;
    throw new LedgerIntegrityError(
      M.notIntact(dir, p.message, p.index),
      p.index === undefined ? {} : { index: p.index },
    );
  }
  const lines = [
    `ledger ${dir}: intact`,
    `  origin      ${r.origin}`,
    `  entries     ${r.size}`,
    `  root        ${b64(r.root)}`,
    `  owner key   ${b64(r.ownerPublicKey!)} (${r.ownerKeyPinned ? 'pinned by --public-key' : 'read from the ledger header; pass --public-key to pin it'})`,
    `  checkpoint  ${r.checkpointSize === undefined ? 'none stored (accepted: --allow-missing-checkpoint)' : `signed, covers ${r.checkpointSize} of ${r.size} entries`}`,
    ...witnesses.map((w, i) => `  witness     ${w.name}: signed by the owner, covers ${r.witnessSizes![i]} entries; the ledger extends it`),
  ];
  const billing = await recheckBilling(dir, publicKey, stringOption(values, 'price-schedule'), allowMissing);
  if (billing) lines.push(`  billing     ${billing.checked} of ${billing.billed} billed entries priced with ${billing.ref}: amounts recomputed, all equal`);
  if (r.tornTailBytes > 0) lines.push(`  note        ${r.tornTailBytes} bytes of an interrupted, never acknowledged append follow the last entry (cut on the next open)`);
  // With --json, stdout holds only the JSON line; the human summary goes to stderr.
  const out = createReporter(values.json === true);
  for (const line of lines) out.info(line);
  out.json({ ok: true, origin: r.origin, size: r.size, root: b64(r.root), ownerKeyPinned: r.ownerKeyPinned, checkpointSize: r.checkpointSize ?? null, witnesses: witnesses.map((w, i) => ({ file: w.name, size: r.witnessSizes![i] })), tornTailBytes: r.tornTailBytes, billingRechecked: billing ? { schedule: billing.ref, billed: billing.billed, checked: billing.checked } : null });
  return 0;
}

/**
 * With a schedule file: every entry whose co-signed billing names this schedule (id and SHA-256
 * of its canonical bytes) must hold exactly the amount the schedule gives for the entry's body.
 * Both parties signed the amount, so a mismatch means both signed a wrong one (or a bug).
 */
async function recheckBilling(
  dir: string,
  publicKey: Uint8Array | undefined,
  file: string | undefined,
  allowMissingCheckpoint: boolean,
): Promise<{ ref: string; billed: number; checked: number } | undefined> {
  if (file === undefined) return undefined;
  const schedule = await loadPriceSchedule(file);
  const ref = priceScheduleRef(schedule);
  const s = await readLedgerSnapshot(dir, { ...(publicKey === undefined ? {} : { publicKey }), allowMissingCheckpoint });
  let billed = 0;
  let checked = 0;
  s.receipts().forEach((receipt, index) => {
    const b = receipt.body.billing;
    if (!b) return;
    billed++;
    if (b.schedule !== ref) return;
    checked++;
    let expected;
    try {
      expected = billRun(schedule, receipt.body);
    } catch (err) {
      throw new LedgerIntegrityError(M.cannotPrice(dir, index, ref, (err as Error).message), { index });
    }
    if (expected.amountMinor !== b.amountMinor || expected.currency !== b.currency) {
      throw new LedgerIntegrityError(
        M.billedWrong(dir, index, `${b.amountMinor} ${b.currency}`, ref, `${expected.amountMinor} ${expected.currency}`),
        { index },
      );
    }
  });
  return { ref, billed, checked };
}

async function exportLedger(values: ParsedOptions): Promise<number> {
  const s = await snapshot(values);
  const receipts = s.receipts();
  print({
    origin: s.origin,
    ownerPublicKey: b64(s.ownerPublicKey),
    size: s.size,
    root: b64(s.root()),
    checkpoint: s.checkpoint,
    entries: s.entries.map((entry, index) => ({ index, leaf: b64(entry), entry: receiptJson(receipts[index]!) })),
  });
  return 0;
}

async function prove(values: ParsedOptions): Promise<number> {
  const s = await snapshot(values);
  const size = intOption(values, 'size', 1, Number.MAX_SAFE_INTEGER) ?? s.size;
  if (size > s.size) throw new InputError(M.exceedsSize('size', size, s.size));
  const index = intOption(values, 'index', 0, Number.MAX_SAFE_INTEGER);
  if (index === undefined) throw new InputError(O.missing('index'));
  if (index >= size) throw new InputError(M.indexNotBelow(index, size));
  print({
    leafIndex: index,
    treeSize: size,
    leafHash: b64(s.leafHash(index)),
    root: b64(s.root(size)),
    proof: s.inclusionProof(index, size).map(b64),
  });
  return 0;
}

async function consistency(values: ParsedOptions): Promise<number> {
  const s = await snapshot(values);
  const from = intOption(values, 'from', 0, Number.MAX_SAFE_INTEGER);
  const to = intOption(values, 'to', 0, Number.MAX_SAFE_INTEGER);
  if (from === undefined) throw new InputError(O.missing('from'));
  if (to === undefined) throw new InputError(O.missing('to'));
  if (to > s.size) throw new InputError(M.exceedsSize('to', to, s.size));
  if (from > to) throw new InputError(M.fromAfterTo(from, to));
  // A proof from size 0 is empty: every tree extends the empty tree, so there is nothing to prove.
  print({ size1: from, size2: to, root1: b64(s.root(from)), root2: b64(s.root(to)), proof: s.consistencyProof(from, to).map(b64) });
  return 0;
}

async function report(values: ParsedOptions): Promise<number> {
  const s = await snapshot(values);
  const by = choiceOption<ReportGrouping>(values, 'by', ['counterparty', 'protocol', 'month', 'security'], 'counterparty');
  const format = choiceOption<ReportFormat>(values, 'format', ['table', 'csv', 'json'], 'table');
  // Amounts are the co-signed `billing` of each (verified) entry.
  const rows = buildUsageReport(s.receipts(), { by, owner: s.ownerPublicKey });
  const text = formatUsageReport(rows, by, format, await counterpartyLabels(values));
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  return 0;
}

async function checkpoint(values: ParsedOptions): Promise<number> {
  const s = await snapshot(values);
  const out = stringOption(values, 'out');
  if (out === undefined) {
    process.stdout.write(s.checkpoint);
    return 0;
  }
  if (values.force !== true && (await stat(out).catch(() => undefined))) {
    throw new InputError(outputExistsMessage(out));
  }
  await writePublicFile(out, s.checkpoint).catch((err: unknown) => {
    throw new InputError(FILE_MESSAGES.cannotWrite(out, err));
  });
  process.stderr.write(`${M.checkpointWritten(s.size, out)}\n`);
  return 0;
}

/** What a cross-check lists of one receipt. */
function itemJson(i: CrossCheckItem): Record<string, unknown> {
  const b = i.receipt.body;
  return {
    index: i.index ?? null,
    peerIndex: i.peerIndex ?? null,
    sessionId: b64(b.sessionId),
    protocol: b.protocol,
    outcome: b.outcome,
    endedAt: new Date(b.endedAt).toISOString(),
    ...(i.differs ? { differs: i.differs } : {}),
  };
}

function itemLine(i: CrossCheckItem): string {
  const j = itemJson(i);
  const where = [i.index === undefined ? '' : `my entry ${i.index}`, i.peerIndex === undefined ? '' : `peer entry ${i.peerIndex}`].filter(Boolean).join(', ');
  // protocol and outcome come from peer-signed receipts: never let them drive a terminal.
  return `    ${where}: session ${String(j.sessionId)} ${printable(String(j.protocol))} ${printable(String(j.outcome))} ended ${String(j.endedAt)}${i.differs ? ` (${i.differs} differ)` : ''}`;
}

async function crossCheck(values: ParsedOptions): Promise<number> {
  const dir = stringOption(values, 'ledger', true);
  const file = stringOption(values, 'peer-export', true);
  const peerKeyFile = stringOption(values, 'peer-key');
  const peerKey = peerKeyFile === undefined ? undefined : parsePublicKeyFile(await readTextFile(peerKeyFile, 'peer key', 4096));
  const mine = await snapshot(values);
  const text = await readTextFile(file, 'peer export', LEDGER_EXPORT_LIMITS.maxBytes);
  let peer: LedgerEntries;
  try {
    peer = parseLedgerExport(JSON.parse(text), peerKey);
  } catch (err) {
    if (err instanceof SyntaxError) throw new InputError(FILE_MESSAGES.invalid('peer export', file, M.exportNotJson(err.message)));
    if (err instanceof MalformedMessageError) throw new InputError(FILE_MESSAGES.invalid('peer export', file, err.message));
    throw err;
  }
  let r: CrossCheckResult;
  try {
    r = crossCheckLedgers({ origin: mine.origin, ownerPublicKey: mine.ownerPublicKey, entries: mine.entries }, peer);
  } catch (err) {
    if (err instanceof RangeError) throw new InputError(FILE_MESSAGES.invalid('peer export', file, M.ownExport()));
    throw err;
  }
  const out = createReporter(values.json === true);
  out.info(`cross-check of ledger ${dir} (owner ${b64(mine.ownerPublicKey)}) with peer export ${file} (owner ${b64(peer.ownerPublicKey)})`);
  // Unpinned, an export under some other key holds no receipt "between us" and agrees vacuously.
  if (peerKey === undefined) out.warn(M.peerKeyUnpinned(file));
  out.info(`  co-signed receipts of runs between us, identical in both  ${r.matched}`);
  const sections: [string, CrossCheckItem[]][] = [
    ['I hold, the peer lacks', r.missingAtPeer],
    ['the peer holds, I lack', r.missingHere],
    ['in both but different', r.different],
    ['one-sided in my ledger (information: never expected in the peer\'s)', r.oneSidedHere],
    ['one-sided in the peer\'s ledger (information)', r.oneSidedAtPeer],
  ];
  for (const [title, items] of sections) {
    out.info(`  ${title}: ${items.length}`);
    for (const i of items) out.info(itemLine(i));
  }
  out.info(r.agree ? `ledgers agree` : `ledgers DISAGREE: ${r.missingAtPeer.length} missing at the peer, ${r.missingHere.length} missing here, ${r.different.length} different`);
  out.json({
    ok: r.agree,
    peerKeyPinned: peerKey !== undefined,
    matched: r.matched,
    missingAtPeer: r.missingAtPeer.map(itemJson),
    missingHere: r.missingHere.map(itemJson),
    different: r.different.map(itemJson),
    oneSidedHere: r.oneSidedHere.map(itemJson),
    oneSidedAtPeer: r.oneSidedAtPeer.map(itemJson),
  });
  return r.agree ? 0 : 3;
}

const HANDLERS: Record<string, (values: ParsedOptions) => Promise<number>> = {
  verify,
  checkpoint,
  'cross-check': crossCheck,
  export: exportLedger,
  prove,
  consistency,
  report,
};

/**
 * Runs `dataport ledger …`; returns the exit code (errors are thrown as one-line `DataportError`s).
 * @example
 * ```ts
 * process.exitCode = await run(['verify', '--ledger', './ledger']);
 * ```
 */
export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    console.log(HELP);
    return sub === undefined ? 2 : 0;
  }
  const spec = SUBCOMMANDS[sub];
  const handler = HANDLERS[sub];
  if (!spec || !handler) throw new InputError(O.unknownSubcommand('ledger', sub, `one of ${Object.keys(HANDLERS).join(', ')}`));
  const { values } = parseCommandArgs(`ledger ${sub}`, rest, spec);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  return handler(values);
}
