/**
 * Argument parsing shared by the subcommands: a thin layer over `node:util`'s `parseArgs` that
 * turns its errors into one actionable line (`InputError`) and adds the small validators every
 * command needs (integers in a range, `HOST:PORT`, a choice among fixed values).
 * @module
 */
import { parseArgs } from 'node:util';
import { InputError } from '../errors.js';
import { OPTION_MESSAGES as M } from './messages.js';
import { DEFAULT_PROGRESS_INTERVAL_SECONDS, PROGRESS_MODES, type ProgressOptions } from './progress.js';

/** One option of a command: `string` options take a value, `boolean` ones do not. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** One-letter alias, e.g. `h` for `--help`. */
  short?: string;
  /** May be given several times (read it with {@link stringListOption}). */
  multiple?: boolean;
}

/** Parsed options: strings for `string` options, `true` for flags that were given, lists for `multiple` ones. */
export type ParsedOptions = Record<string, string | boolean | string[] | undefined>;

/**
 * Parses `argv` against `spec` (no positionals unless `positionals` is true). Unknown options, a
 * missing value or a repeated option end with an `InputError` naming the option and the command.
 *
 * @example
 * ```ts
 * const { values } = parseCommandArgs('keygen', ['--out', 'dir'], { out: { type: 'string' } });
 * ```
 */
export function parseCommandArgs(
  command: string,
  argv: readonly string[],
  spec: Record<string, OptionSpec>,
  positionals = false,
): { values: ParsedOptions; positionals: string[] } {
  // Repeating an option is almost always a mistake in a script (which one wins?): refuse it.
  const seen = new Set<string>();
  for (const arg of argv) {
    if (arg === '--') break;
    if (!arg.startsWith('--')) continue;
    const name = arg.slice(2).split('=')[0]!;
    if (seen.has(name) && spec[name]?.multiple !== true) throw new InputError(M.givenTwice(name, command));
    seen.add(name);
  }
  try {
    const parsed = parseArgs({ args: [...argv], options: spec, strict: true, allowPositionals: positionals });
    return { values: parsed.values as ParsedOptions, positionals: parsed.positionals };
  } catch (err) {
    const code = (err as { code?: string }).code;
    const msg = String((err as Error).message ?? err);
    const opt = /'(-{1,2}[^' ]+)/.exec(msg)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      throw new InputError(M.unknown(opt ?? '', command));
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const name = opt?.split(' ')[0] ?? 'an option';
      throw new InputError(
        spec[name.replace(/^-+/, '')]?.type === 'boolean' ? M.takesNoValue(name) : M.needsValue(name),
      );
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      throw new InputError(M.unexpectedArgument(/'([^']*)'/.exec(msg)?.[1] ?? '', command));
    }
    throw new InputError(msg.split('\n')[0]!);
  }
}

/**
 * A string option's value, or `InputError` naming it when it is required and missing.
 * @example
 * ```ts
 * const out = stringOption(values, 'out', true);
 * ```
 */
export function stringOption(values: ParsedOptions, name: string, required: true): string;
export function stringOption(values: ParsedOptions, name: string, required?: false): string | undefined;
export function stringOption(values: ParsedOptions, name: string, required = false): string | undefined {
  const v = values[name];
  if (v === undefined) {
    if (required) throw new InputError(M.missing(name));
    return undefined;
  }
  if (typeof v !== 'string') throw new InputError(M.needsValue(`--${name}`));
  if (v === '') throw new InputError(M.empty(name));
  return v;
}

/**
 * Every value of a `multiple` string option, in order (empty when absent); an empty value is an
 * `InputError` naming the option.
 * @example
 * ```ts
 * const files = stringListOption(values, 'witness');
 * ```
 */
export function stringListOption(values: ParsedOptions, name: string): string[] {
  const v = values[name];
  if (v === undefined) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const item of list) {
    if (typeof item !== 'string') throw new InputError(M.needsValue(`--${name}`));
    if (item === '') throw new InputError(M.empty(name));
  }
  return list as string[];
}

/**
 * An integer option in `[min, max]`, or `fallback` when absent.
 * @example
 * ```ts
 * const workers = intOption(values, 'workers', 0, 64, 2);
 * ```
 */
export function intOption(values: ParsedOptions, name: string, min: number, max: number, fallback: number): number;
export function intOption(values: ParsedOptions, name: string, min: number, max: number): number | undefined;
export function intOption(values: ParsedOptions, name: string, min: number, max: number, fallback?: number): number | undefined {
  const v = stringOption(values, name);
  if (v === undefined) return fallback;
  if (!/^[0-9]+$/.test(v)) throw new InputError(M.notInteger(name, v));
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new InputError(M.outOfRange(name, min, max, v));
  }
  return n;
}

/**
 * A positive number of seconds (fractions allowed) as milliseconds, or `fallback`.
 * @example
 * ```ts
 * const timeoutMs = secondsOption(values, 'timeout', 600_000);
 * ```
 */
export function secondsOption(values: ParsedOptions, name: string, fallback: number): number {
  const v = stringOption(values, name);
  if (v === undefined) return fallback;
  if (!/^[0-9]+(\.[0-9]+)?$/.test(v)) throw new InputError(M.notSeconds(name, v));
  const ms = Math.round(Number(v) * 1000);
  // 2^31-1 ms is the largest delay setTimeout honours; beyond it timers fire immediately.
  if (ms <= 0 || ms > 2_147_483_647) throw new InputError(M.secondsRange(name));
  return ms;
}

/**
 * One value among `choices`, or `fallback` when absent.
 * @example
 * ```ts
 * const reveal = choiceOption(values, 'reveal', ['both', 'requester'] as const, 'both');
 * ```
 */
export function choiceOption<T extends string>(values: ParsedOptions, name: string, choices: readonly T[], fallback: T): T {
  const v = stringOption(values, name);
  if (v === undefined) return fallback;
  if (!(choices as readonly string[]).includes(v)) {
    throw new InputError(M.notOneOf(name, choices, v));
  }
  return v as T;
}

/** The `--progress` and `--progress-interval` options every long-running command takes. */
export const PROGRESS_OPTION_SPECS: Record<string, OptionSpec> = {
  progress: { type: 'string' },
  'progress-interval': { type: 'string' },
};

/** `--help` lines of {@link PROGRESS_OPTION_SPECS}, descriptions starting at column `column`. */
export function progressHelp(column = 26): string {
  const pad = ' '.repeat(column);
  return [
    '  --progress none|bar|lines|json',
    `${pad}progress on stderr (default: bar on a terminal, lines otherwise);`,
    `${pad}lines: 'dataport: progress phase=P done=N total=M rate=R/s elapsed=Es'`,
    '  --progress-interval SECONDS',
    `${pad}seconds between lines/json records (default ${DEFAULT_PROGRESS_INTERVAL_SECONDS}); one more`,
    `${pad}record ends each phase (done = total)`,
  ].join('\n');
}

/**
 * `--progress` (absent: `undefined`, the stream's default applies) and `--progress-interval`.
 * @example
 * ```ts
 * const progress = createProgress(progressOption(values));
 * ```
 */
export function progressOption(values: ParsedOptions): Pick<ProgressOptions, 'mode' | 'intervalSeconds'> {
  const mode = values.progress === undefined ? undefined : choiceOption(values, 'progress', PROGRESS_MODES, 'lines');
  const intervalSeconds = secondsOption(values, 'progress-interval', DEFAULT_PROGRESS_INTERVAL_SECONDS * 1000) / 1000;
  return { ...(mode !== undefined ? { mode } : {}), intervalSeconds };
}

/** Longest `--purpose` (it is signed into the terms and shown to the peer). */
export const MAX_PURPOSE_CHARS = 1024;

/**
 * `--purpose`: at most {@link MAX_PURPOSE_CHARS} characters without control characters (it is
 * signed, stored in receipts and printed by the peer), or `undefined` when absent.
 * @example
 * ```ts
 * const purpose = purposeOption(values) ?? '';
 * ```
 */
export function purposeOption(values: ParsedOptions): string | undefined {
  if (values.purpose === undefined) return undefined;
  const purpose = String(values.purpose);
  // eslint-disable-next-line no-control-regex
  if (purpose.length > MAX_PURPOSE_CHARS || /[\u0000-\u001f\u007f]/.test(purpose)) throw new InputError(M.purpose(MAX_PURPOSE_CHARS));
  return purpose;
}

/**
 * Checks `--connect URL`: `ws://` or `wss://`, no credentials in it (they would be sent in the
 * clear and logged); with `ca`, `wss://` only.
 * @example
 * ```ts
 * checkConnectUrl('wss://port.example:7400', 'ca.pem');
 * ```
 */
export function checkConnectUrl(text: string, ca?: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InputError(M.connectNotUrl(text));
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new InputError(M.connectScheme(text));
  if (url.username || url.password) throw new InputError(M.connectCredentials());
  if (ca !== undefined && url.protocol !== 'wss:') throw new InputError(M.caNeedsWss());
  return url;
}

/** A parsed `HOST:PORT` (IPv6 hosts in brackets: `[::1]:4000`). */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * Parses `HOST:PORT` for `--listen`; port 0 asks the system for a free port.
 * @example
 * ```ts
 * parseHostPort('127.0.0.1:0', 'listen'); // { host: '127.0.0.1', port: 0 }
 * ```
 */
export function parseHostPort(text: string, option: string): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):([0-9]{1,5})$/.exec(text);
  if (!m) throw new InputError(M.notHostPort(option, text));
  const port = Number(m[3]);
  if (port > 65535) throw new InputError(M.portTooLarge(option, port));
  return { host: (m[1] ?? m[2])!, port };
}

/**
 * Splits a comma-separated column list (`--key a,b`), refusing empty or repeated names.
 * @example
 * ```ts
 * parseColumnList('ward,month', 'key'); // ['ward', 'month']
 * ```
 */
export function parseColumnList(text: string, option: string): string[] {
  const cols = text.split(',').map((c) => c.trim());
  if (cols.some((c) => c === '')) throw new InputError(M.emptyColumn(option, text));
  const dup = cols.find((c, i) => cols.indexOf(c) !== i);
  if (dup !== undefined) throw new InputError(M.columnTwice(option, dup));
  return cols;
}
