/**
 * User-facing texts of the record sources (src/sources): the CSV scanner's messages and the words
 * for a file-system error. The CLI's tables (src/cli/messages.ts) include these, so that a
 * translation of the CLI covers them; kept here so that the sources do not depend on the CLI.
 * @module
 */

const FS_ERRORS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a parent is not a directory',
  EISDIR: 'is a directory',
  ELOOP: 'too many symbolic links',
  EMFILE: 'too many open files',
  ENOSPC: 'no space left on the device',
  EROFS: 'read-only file system',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this host',
};

/**
 * A file-system (or socket) error as the few words a person needs (`permission denied (EACCES)`),
 * never the raw Node message (which repeats the path and the syscall).
 */
export function fsErrorText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string') return 'error';
  const words = FS_ERRORS[code];
  return words === undefined ? code : `${words} (${code})`;
}

/** The CSV scanner (csv-scan.ts): a file that is not a CSV with a header and rows, a missing column. */
export const CSV_SCAN_MESSAGES = {
  notRegular: (path: string) => `${path}: not a regular file`,
  empty: (path: string) => `${path}: the file is empty; expected a header row and data rows`,
  notUtf8: (path: string, line: number) => `${path}: not valid UTF-8 at line ${line}`,
  truncatedUtf8: (path: string) => `${path}: not valid UTF-8 (truncated character at the end of the file)`,
  noHeader: (path: string) => `${path}: no header row (the file has only blank lines)`,
  noDataRows: (path: string) => `${path}: the file has a header but no data rows`,
  /** `where`: ` at line N`, or empty when the parser did not say. */
  malformed: (path: string, where: string, problem: string) => `${path}: malformed CSV${where}: ${problem}`,
  fieldCount: (expected: string, got: string) => `expected ${expected} fields like the header, got ${got}`,
  wrongFieldCount: () => 'wrong number of fields',
  quoteNotClosed: (path: string, line: number | undefined) => `${path}: malformed CSV: a quoted field is never closed (the file ends at line ${line ?? '?'})`,
  afterClosingQuote: () => 'unexpected character after a closing quote',
  rowTooLong: (maxChars: number) => `row longer than ${maxChars} characters (an unclosed quote?)`,
  noColumn: (path: string, column: string, hint: string | undefined, header: string) =>
    `${path}: no column '${column}'${hint !== undefined ? ` (did you mean '${hint}'?)` : ''}; the header has ${header}`,
  columnTwice: (path: string, column: string) => `${path}: the header has column '${column}' more than once`,
  cannotReadInput: (path: string, err: unknown) => `${path}: cannot read input (${fsErrorText(err)})`,
} as const;
