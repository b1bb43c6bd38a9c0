/**
 * Output helpers of the CLI: messages for people on stderr (or stdout), the `--json` summary as the
 * last line of stdout, and a JSON-friendly form of byte-carrying values such as receipts.
 * @module
 */
import { toBase64 } from '../utils/bytes.js';

/**
 * A JSON-friendly copy of `value`: every `Uint8Array` becomes a base64 string (standard alphabet,
 * padded), everything else is copied as is.
 *
 * @example
 * ```ts
 * JSON.stringify(toJsonFriendly(receipt)); // publicKey, signature and sessionId as base64
 * ```
 */
export function toJsonFriendly(value: unknown): unknown {
  if (value instanceof Uint8Array) return toBase64(value);
  if (Array.isArray(value)) return value.map(toJsonFriendly);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toJsonFriendly(v);
    return out;
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** Where a command's human-readable lines go, and how it prints its final summary. */
export interface Reporter {
  /** A result line for people (stdout, or stderr when stdout is reserved for `--json`). */
  info(line: string): void;
  /** A warning: always stderr, prefixed `dataport: warning: `. */
  warn(line: string): void;
  /** The one-line JSON summary (only with `--json`; always the last line of stdout). */
  json(summary: Record<string, unknown>): void;
}

/**
 * A reporter; with `json` set, human lines go to stderr so stdout holds only JSON lines.
 * @example
 * ```ts
 * const out = createReporter(false);
 * out.info('intersection: 42');
 * ```
 */
export function createReporter(json: boolean): Reporter {
  return {
    info(line) {
      (json ? process.stderr : process.stdout).write(`${line}\n`);
    },
    warn(line) {
      process.stderr.write(`dataport: warning: ${line}\n`);
    },
    json(summary) {
      if (json) process.stdout.write(`${JSON.stringify(toJsonFriendly(summary))}\n`);
    },
  };
}
