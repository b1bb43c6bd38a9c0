/**
 * The CLI's one progress mechanism, on stderr only (stdout is for results and `--json`):
 *
 * - `bar`: a cli-progress bar per phase (the default when stderr is a terminal);
 * - `lines`: one stable line per record (the default otherwise):
 *   `dataport: progress phase=P done=N total=M rate=R/s elapsed=Es` (then ` unit=U` when the phase
 *   has a unit), every `--progress-interval` seconds and at the end of each phase;
 * - `json`: the same records as one JSON object per line;
 * - `none`: nothing.
 *
 * Each phase ends at 100 % (done = total) before the next one starts: starting a new phase ends
 * the current one, and {@link Progress.end} ends the last one. {@link Progress.stop} (a failure, an
 * abort) removes the display without claiming the phase finished.
 * @module
 */
import cliProgress from 'cli-progress';

/** How progress is shown (`--progress`). */
export type ProgressMode = 'none' | 'bar' | 'lines' | 'json';

/** The values `--progress` accepts. */
export const PROGRESS_MODES: readonly ProgressMode[] = ['none', 'bar', 'lines', 'json'];

/** Default of `--progress-interval` (seconds). */
export const DEFAULT_PROGRESS_INTERVAL_SECONDS = 10;

/** A progress display for one phase at a time. */
export interface Progress {
  /**
   * Starts a phase with a label and a total (units are the caller's). Calling it again with the
   * current label and unit only adjusts the total; another label ends the current phase first.
   */
  phase(label: string, total: number, unit?: string): void;
  /** Sets the current value of the phase. */
  update(value: number): void;
  /** Ends the current phase at 100 % (a record in `lines`/`json`); no-op without a phase. */
  end(): void;
  /** Removes the display and stops the interval timer without ending the phase (failure, abort). */
  stop(): void;
  /** Whether anything is shown. */
  readonly enabled: boolean;
}

/** One progress record (what `json` prints, and `lines` in text). */
export interface ProgressRecord {
  readonly type: 'progress';
  readonly phase: string;
  readonly done: number;
  readonly total: number;
  readonly unit?: string;
  /** Units per second since the phase started, rounded. */
  readonly rate: number;
  /** Seconds since the phase started, one decimal place. */
  readonly elapsed: number;
  /** Whether this record ends the phase. */
  readonly end: boolean;
}

/** A stream to write to (stderr by default). */
export interface ProgressStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** The mode; default {@link defaultProgressMode} of `stream`. */
  mode?: ProgressMode;
  /** Seconds between interval records in `lines`/`json` (default 10). */
  intervalSeconds?: number;
  /** Where to write (default `process.stderr`). */
  stream?: ProgressStream;
  /** Milliseconds clock (default `performance.now`); injectable for tests. */
  now?: () => number;
  /**
   * Calls `tick` every `ms` until the returned function is called (default `setInterval`,
   * unref'd); injectable for tests.
   */
  every?: (tick: () => void, ms: number) => () => void;
}

/** `bar` on a terminal, `lines` otherwise. */
export function defaultProgressMode(stream: ProgressStream = process.stderr): ProgressMode {
  return stream.isTTY ? 'bar' : 'lines';
}

/** Formats a record as the documented `lines` text (with its newline). */
export function formatProgressLine(r: ProgressRecord): string {
  return `dataport: progress phase=${r.phase} done=${r.done} total=${r.total} rate=${r.rate}/s elapsed=${r.elapsed.toFixed(1)}s${r.unit ? ` unit=${r.unit}` : ''}\n`;
}

const defaultEvery = (tick: () => void, ms: number): (() => void) => {
  const t = setInterval(tick, ms);
  t.unref?.();
  return () => clearInterval(t);
};

/**
 * Creates the progress display of one command.
 * @example
 * ```ts
 * const p = createProgress({ mode: 'lines', intervalSeconds: 10 });
 * p.phase('reading', size, 'B');
 * p.update(done);
 * p.end();
 * ```
 */
export function createProgress(options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  const mode = options.mode ?? defaultProgressMode(stream);
  if (mode === 'none') return { phase() {}, update() {}, end() {}, stop() {}, enabled: false };
  return mode === 'bar' ? barProgress(stream) : recordProgress(mode, stream, options);
}

function barProgress(stream: ProgressStream): Progress {
  let bar: cliProgress.SingleBar | undefined;
  let current = '';
  let total = 0;
  const stop = () => {
    bar?.stop();
    bar = undefined;
    current = '';
  };
  return {
    enabled: true,
    phase(label, newTotal, unit = '') {
      // Repeated calls for the same phase only adjust the total (the bar keeps its clock).
      const key = `${label}\0${unit}`;
      total = Math.max(1, newTotal);
      if (bar && key === current) {
        bar.setTotal(total);
        return;
      }
      if (bar) bar.update(bar.getTotal());
      stop();
      current = key;
      bar = new cliProgress.SingleBar(
        {
          stream: stream as NodeJS.WritableStream,
          format: `${label.padEnd(15)} [{bar}] {percentage}% | {value}/{total}${unit ? ' ' + unit : ''} | {duration_formatted}`,
          fps: 10,
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0);
    },
    update(value) {
      bar?.update(value);
    },
    end() {
      if (bar) bar.update(bar.getTotal());
      stop();
    },
    stop,
  };
}

interface PhaseState {
  label: string;
  unit: string;
  total: number;
  done: number;
  startedAt: number;
}

function recordProgress(mode: 'lines' | 'json', stream: ProgressStream, options: ProgressOptions): Progress {
  const now = options.now ?? (() => performance.now());
  const every = options.every ?? defaultEvery;
  const intervalMs = (options.intervalSeconds ?? DEFAULT_PROGRESS_INTERVAL_SECONDS) * 1000;
  let current: PhaseState | undefined;
  let cancel: (() => void) | undefined;

  const emit = (p: PhaseState, end: boolean) => {
    const seconds = Math.max(0, now() - p.startedAt) / 1000;
    const record: ProgressRecord = {
      type: 'progress',
      // One token in the line format: blanks become '-'.
      phase: p.label.trim().replace(/\s+/g, '-'),
      done: p.done,
      total: p.total,
      ...(p.unit ? { unit: p.unit } : {}),
      rate: seconds > 0 ? Math.round(p.done / seconds) : 0,
      elapsed: Math.round(seconds * 10) / 10,
      end,
    };
    stream.write(mode === 'json' ? JSON.stringify(record) + '\n' : formatProgressLine(record));
  };
  const end = () => {
    const p = current;
    if (!p) return;
    current = undefined;
    p.done = p.total;
    emit(p, true);
  };
  return {
    enabled: true,
    phase(label, total, unit = '') {
      const t = Math.max(0, Math.floor(total));
      if (current && current.label === label && current.unit === unit) {
        current.total = t;
        return;
      }
      end();
      current = { label, unit, total: t, done: 0, startedAt: now() };
      cancel ??= every(() => {
        if (current) emit(current, false);
      }, intervalMs);
    },
    update(value) {
      if (current) current.done = Math.max(0, Math.min(current.total, Math.floor(value)));
    },
    end,
    stop() {
      current = undefined;
      cancel?.();
      cancel = undefined;
    },
  };
}

/**
 * A protocol's progress callback that drives `progress` (a phase per protocol phase).
 * @example
 * ```ts
 * await runPsiSum({ ...options, onProgress: progressHook(progress) });
 * ```
 */
export function progressHook(progress: Progress): (p: { readonly phase: string; readonly done: number; readonly total: number; readonly unit?: string }) => void {
  return (p) => {
    progress.phase(p.phase, p.total, p.unit);
    progress.update(p.done);
  };
}
