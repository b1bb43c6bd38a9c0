/**
 * `fromCsv`: a CSV file as a record source (the same scanner as the CLI: header row, UTF-8,
 * optional BOM, quoted fields; empty cells are empty strings). The scanner is src/sources/csv-scan.ts,
 * shared with the CLI, rather than a second CSV reader with other rules.
 * @module
 */
import { AbortError } from '../errors.js';
import { scanCsv } from './csv-scan.js';
import { snapshotRows } from './cells.js';
import type { RecordSource, SourceSnapshot, TableScan } from './types.js';

/**
 * Hands the rows a callback-driven producer emits to an async iterator, one at a time: the
 * producer waits (its callback's promise) until the consumer asks for the next row, so memory
 * stays bounded whatever the file size.
 */
function pull<T>(produce: (emit: (item: T) => Promise<void>) => Promise<unknown>): AsyncGenerator<T> {
  let wake: (() => void) | undefined;
  let waitingItem: { item: T; taken: () => void } | undefined;
  let finished = false;
  let failure: unknown;
  let cancelled = false;
  const signalConsumer = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let running: Promise<void> | undefined;
  const start = () => {
    running ??= produce(
      (item) =>
        new Promise<void>((resolve, reject) => {
          if (cancelled) return reject(new AbortError('the reader stopped'));
          waitingItem = { item, taken: resolve };
          signalConsumer();
        }),
    ).then(
      () => {
        finished = true;
        signalConsumer();
      },
      (err) => {
        failure = err;
        finished = true;
        signalConsumer();
      },
    );
  };
  async function* gen(): AsyncGenerator<T> {
    start();
    try {
      for (;;) {
        if (waitingItem === undefined && !finished) await new Promise<void>((r) => (wake = r));
        if (waitingItem !== undefined) {
          const { item, taken } = waitingItem;
          waitingItem = undefined;
          taken();
          yield item;
          continue;
        }
        if (failure !== undefined) throw failure;
        return;
      }
    } finally {
      if (!finished) {
        cancelled = true;
        waitingItem?.taken();
        await running?.catch(() => {});
      }
    }
  }
  return gen();
}

/**
 * A CSV file as a record source. Each read streams the file (bounded memory); errors are
 * `InputError`s naming the file and line, as for the CLI.
 * @example
 * ```ts
 * import { fromCsv, readRecords } from 'dataport/node';
 * const { keys } = await readRecords(fromCsv('pharma.csv'), { key: ['resident_id'] });
 * ```
 */
export function fromCsv(path: string): RecordSource {
  if (typeof path !== 'string' || path === '') throw new TypeError('fromCsv: path must be a non-empty string');
  const snapshot = async (): Promise<SourceSnapshot> => ({
    scan: async (options = {}): Promise<TableScan> => {
      let header: readonly string[] | undefined;
      let headerSeen!: () => void;
      const headerPromise = new Promise<void>((r) => (headerSeen = r));
      const rows = pull<readonly string[]>((emit) =>
        scanCsv(path, { columns: [], all: true, lines: false, onHeader: (h) => ((header = h), headerSeen()), ...(options.signal ? { signal: options.signal } : {}) }, (row) => emit(row.all!)).finally(() => headerSeen()),
      );
      // Start reading to learn the header (or the error of an unreadable file).
      const first = await rows.next();
      await headerPromise;
      async function* all(): AsyncGenerator<readonly string[]> {
        if (!first.done) yield first.value;
        yield* rows;
      }
      return { header: header ?? [], rows: all() };
    },
    close: async () => {},
  });
  const source: RecordSource = {
    info: { kind: 'csv', label: path },
    snapshot,
    [Symbol.asyncIterator]: () => snapshotRows(snapshot),
  };
  return source;
}
