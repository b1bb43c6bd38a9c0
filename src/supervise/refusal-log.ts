/**
 * The listeners' JSON-lines log of refused connections (`--refusal-log FILE` of `psi --listen`,
 * `psi-sum --listen` and `aggregate serve`): one line per connection that was
 * not served, `{"at":<ms epoch>,"event":"refused","address":"<peer address>","reason":"<text>"}`.
 * The same connections are reported on stderr; the file is what `dataport supervise
 * --listener-log FILE` reads. It holds addresses and reasons only — never a key or a record.
 * @module
 */

/**
 * One refused connection.
 * @example
 * ```ts
 * const r: RefusalRecord = { at: Date.now(), address: '198.51.100.7', reason: 'peer key not allowed' };
 * ```
 */
export interface RefusalRecord {
  at: number;
  address: string;
  reason: string;
}

/** Limits of a refusal line (a longer address or reason is cut when written, refused when read). */
export const REFUSAL_LOG_LIMITS = { addressChars: 256, reasonChars: 1024, lineChars: 2048 } as const;

/**
 * The log line of a refusal (without the newline).
 * @example
 * ```ts
 * appendFileSync(path, `${formatRefusalLine({ at: Date.now(), address, reason })}\n`);
 * ```
 */
export function formatRefusalLine(r: RefusalRecord): string {
  return JSON.stringify({
    at: r.at,
    event: 'refused',
    address: r.address.slice(0, REFUSAL_LOG_LIMITS.addressChars),
    reason: r.reason.replace(/\s*\n\s*/g, ' ').slice(0, REFUSAL_LOG_LIMITS.reasonChars),
  });
}

/**
 * The refusals of a log's text; lines that are not refusal records (blank, torn by a crash,
 * written by something else) are counted in `skipped` and left out.
 * @example
 * ```ts
 * const { records, skipped } = parseRefusalLog(readFileSync('refused.jsonl', 'utf8'));
 * ```
 */
export function parseRefusalLog(text: string): { records: RefusalRecord[]; skipped: number } {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  const records: RefusalRecord[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.length > REFUSAL_LOG_LIMITS.lineChars) {
      skipped++;
      continue;
    }
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      skipped++;
      continue;
    }
    const o = v as Record<string, unknown> | null;
    if (
      o === null ||
      typeof o !== 'object' ||
      o['event'] !== 'refused' ||
      typeof o['at'] !== 'number' ||
      !Number.isSafeInteger(o['at']) ||
      o['at'] < 0 ||
      typeof o['address'] !== 'string' ||
      o['address'].length > REFUSAL_LOG_LIMITS.addressChars ||
      typeof o['reason'] !== 'string' ||
      o['reason'].length > REFUSAL_LOG_LIMITS.reasonChars
    ) {
      skipped++;
      continue;
    }
    records.push({ at: o['at'], address: o['address'], reason: o['reason'] });
  }
  return { records, skipped };
}
