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
