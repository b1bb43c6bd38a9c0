/**
 * The files the read-only ledger commands (`ledger`, `dashboard`) take besides the ledger itself:
 * the owner's pinned public key, witness checkpoints saved elsewhere, and operator labels of
 * counterparty keys.
 * @module
 */
import { InputError } from '../errors.js';
import { CHECKPOINT_LIMITS } from '../ledger/index.js';
import type { WitnessCheckpoint } from '../ledger/index.js';
import { printable } from '../ledger/report.js';
import { parsePublicKeyFile } from '../session/identity.js';
import { fromBase64, toBase64 } from '../utils/bytes.js';
import { stringListOption, stringOption } from './args.js';
import type { ParsedOptions } from './args.js';
import { loadNamedKeys, readTextFile } from './identity-files.js';
import { FILE_MESSAGES, LEDGER_MESSAGES as M } from './messages.js';

/** A ledger owner's identity.pub (`--public-key FILE`), to pin instead of trusting the ledger header. */
export async function loadOwnerKey(file: string): Promise<Uint8Array> {
  return parsePublicKeyFile(await readTextFile(file, 'public key', 4096));
}

/** `--public-key FILE`, or `undefined` when absent. */
export async function pinnedKey(values: ParsedOptions): Promise<Uint8Array | undefined> {
  const file = stringOption(values, 'public-key');
  return file === undefined ? undefined : loadOwnerKey(file);
}

/** The `--witness` files: checkpoints of this ledger saved earlier elsewhere. */
export async function witnessFiles(values: ParsedOptions): Promise<WitnessCheckpoint[]> {
  const out: WitnessCheckpoint[] = [];
  for (const file of stringListOption(values, 'witness')) {
    out.push({ name: file, text: await readTextFile(file, 'witness', CHECKPOINT_LIMITS.maxNoteBytes) });
  }
  return out;
}

/** Largest number of labels read from `--names` / `--keys`. */
const MAX_LABELS = 4096;

/** Labels of counterparty keys from `--names FILE` (JSON key → label) and `--keys DIR`, or `undefined`. */
export async function counterpartyLabels(values: ParsedOptions): Promise<Map<string, string> | undefined> {
  const namesFile = stringOption(values, 'names');
  const keysDir = stringOption(values, 'keys');
  if (namesFile === undefined && keysDir === undefined) return undefined;
  const labels = new Map<string, string>();
  const put = (key: string, label: string, where: string): void => {
    const other = labels.get(key);
    if (other !== undefined && other !== label) throw new InputError(M.labelledTwice(where, key, other, label));
    labels.set(key, label);
  };
  if (namesFile !== undefined) {
    const text = await readTextFile(namesFile, '--names', 1 << 20);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new InputError(FILE_MESSAGES.invalid('--names', namesFile, M.namesNotJson()));
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InputError(FILE_MESSAGES.invalid('--names', namesFile, M.namesNotObject()));
    const entries = Object.entries(parsed as Record<string, unknown>);
    if (entries.length > MAX_LABELS) throw new InputError(FILE_MESSAGES.invalid('--names', namesFile, M.tooManyEntries(MAX_LABELS)));
    for (const [k, v] of entries) {
      let key: Uint8Array;
      try {
        key = fromBase64(k);
      } catch {
        key = new Uint8Array(0);
      }
      if (key.length !== 32) throw new InputError(FILE_MESSAGES.invalid('--names', namesFile, M.notAKey(printable(k.slice(0, 60)))));
      // eslint-disable-next-line no-control-regex
      if (typeof v !== 'string' || v.length === 0 || v.length > 64 || /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(v)) {
        throw new InputError(FILE_MESSAGES.invalid('--names', namesFile, M.badLabel(toBase64(key))));
      }
      put(toBase64(key), v, `--names ${namesFile}`);
    }
  }
  if (keysDir !== undefined) {
    for (const k of await loadNamedKeys(keysDir, '--keys', MAX_LABELS)) put(toBase64(k.key), k.name, `--keys ${keysDir}`);
  }
  return labels;
}
