/**
 * User-facing texts of the CLI, gathered in one place so that they can be offered in another
 * language (Chinese first) without hunting through the commands. Each is a function of what it
 * names; the error class and exit code stay with the caller. Not every message lives here yet:
 * see docs/cli.md ("Messages") for the table of what the CLI prints.
 * @module
 */

/** An output file that exists, without `--force`. */
export function outputExistsMessage(path: string): string {
  return `${path} already exists; refusing to overwrite it (use --force to replace it)`;
}

/** A key file that exists, without `--force` (`keygen`). */
export function keyExistsMessage(path: string): string {
  return `${path} already exists; refusing to overwrite a key (use --force to replace it)`;
}

/** A problem at a place in an input file, in the one form CSV and value errors share. */
export function fileLineMessage(file: string, line: number, problem: string, column?: string): string {
  return `${file}: line ${line}: ${column !== undefined ? `column ${column}: ` : ''}${problem}`;
}

/** What a peer-authentication failure usually means, before the error's own words. */
const AUTH_HINT = 'peer authentication failed (wrong --peer-key, or not the expected peer): ';

/**
 * Prefixes added to an error's message by its stable code, when the usual cause is a wrong flag
 * or the other side's policy: `psi` and `psi-sum` (a two-party session).
 */
export const SESSION_ERROR_HINTS: Readonly<Partial<Record<string, string>>> = {
  ERR_VERIFICATION_FAILED: AUTH_HINT,
  ERR_TRANSPORT_CLOSED: 'connection: ',
  ERR_TERMS_REFUSED: 'terms refused: ',
  ERR_GUARDRAIL_REFUSED: 'refused by guardrail: ',
};

/** The same for `aggregate` (the other side is the operator, or a participant it refused). */
export const AGGREGATE_ERROR_HINTS: Readonly<Partial<Record<string, string>>> = {
  ERR_VERIFICATION_FAILED: 'peer authentication failed (wrong --peer-key, or a key the other side does not accept): ',
  ERR_TERMS_REFUSED: 'terms refused: ',
};

/** A session that ran past `--timeout` (`where`: the peer's address or URL, when known). */
export function sessionTimedOutMessage(seconds: string, where?: string): string {
  return `${where !== undefined ? `session with ${where}` : 'session'} timed out (--timeout ${seconds})`;
}
