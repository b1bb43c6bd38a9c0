/**
 * docs/cli.md's message table ("Exit codes", typical messages) against src/cli/messages.ts: every
 * message the table shows that the CLI itself words is rendered here from the one table of texts
 * with the table's placeholders, and must appear in the docs exactly. A changed text fails until
 * the docs say the same.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CSV_MESSAGES,
  FILE_MESSAGES,
  fileLineMessage,
  OPTION_MESSAGES,
  outputExistsMessage,
  PSI_MESSAGES,
  SESSION_ERROR_HINTS,
  sessionTimedOutMessage,
} from '../src/cli/messages.js';
import { PROGRESS_MODES } from '../src/cli/progress.js';
import { checkPayloadTerms } from '../src/session/payload-terms.js';
import type { SessionTerms } from '../src/session/messages.js';

/** Terms of a requester that accepts ward,cost_yuan unmarked (only what checkPayloadTerms reads). */
const TOLERANCE_TERMS = {
  purpose: 'x',
  options: { 'payload-columns': 'ward,cost_yuan', 'payload-max-bytes': '256', 'payload-recipient': '00'.repeat(32) },
} as unknown as SessionTerms;

const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'cli.md'), 'utf8');
/** The table's rows: the lines between its header and the first line that is not a row. */
const table = (() => {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => l.startsWith('| cause | message (after `dataport: `) |'));
  expect(start).toBeGreaterThan(0);
  const rows: string[] = [];
  for (let i = start + 2; i < lines.length && lines[i]!.startsWith('|'); i++) rows.push(lines[i]!);
  return rows.join('\n');
})();
// The docs' placeholders where a message has a number (the functions take any printable value).
const N = 'N' as unknown as number;

describe("docs/cli.md's message table is what the CLI prints", () => {
  it.each([
    ['wrong --peer-key', `${SESSION_ERROR_HINTS['ERR_VERIFICATION_FAILED']}peer key does not match the pinned key`],
    ['terms differ', `${SESSION_ERROR_HINTS['ERR_TERMS_REFUSED']}the listener runs with --count-only`],
    ['nothing listening', `${SESSION_ERROR_HINTS['ERR_TRANSPORT_CLOSED']}could not connect: connect ECONNREFUSED 127.0.0.1:7400`],
    ['a silent peer', sessionTimedOutMessage('600s', 'ws://…')],
    ['--output exists', `--output ${outputExistsMessage('FILE')}`],
    ['an unreadable input', FILE_MESSAGES.cannotReadInput('FILE', { code: 'EACCES' })],
    ['an unreadable identity (prefix)', FILE_MESSAGES.cannotRead('identity', 'DIR/identity.key', {}).replace(/\(error\)$/, '(')],
    ['a malformed CSV', CSV_MESSAGES.malformed('FILE', ' at line N', CSV_MESSAGES.fieldCount('2', '1'))],
    ['a psi-sum value error', fileLineMessage('FILE', N, 'empty value', 'C')],
    ['an unknown option', OPTION_MESSAGES.unknown('--x', 'psi')],
    ['a missing option', OPTION_MESSAGES.missing('input')],
    ['a bad --progress', OPTION_MESSAGES.notOneOf('progress', PROGRESS_MODES, 'x')],
    ['an unmarked payload', `warning: ${PSI_MESSAGES.payloadUnmarked('ward')}`],
    ['payload tolerances that differ', `${SESSION_ERROR_HINTS['ERR_TERMS_REFUSED']}${checkPayloadTerms(TOLERANCE_TERMS, { columns: ['ward', 'cost_yuan'], maxBytes: 256, tolerance: { cost_yuan: '0.01' } }, new Uint8Array(32))}`],
  ])('%s', (_what, message) => {
    expect(table).toContain(`\`${message}`);
  });
});
