/**
 * Progress bars on a terminal (cli-progress on stderr). Nothing at all is drawn unless both stdout
 * and stderr are TTYs, so pipes, files, CI logs and the tests see clean output.
 * @module
 */
import cliProgress from 'cli-progress';

/** A progress display for one phase at a time. */
export interface Progress {
  /** Starts (or restarts) a phase with a label and a total (units are the caller's). */
  phase(label: string, total: number, unit?: string): void;
  /** Sets the current value of the phase. */
  update(value: number): void;
  /** Removes the bar. */
  stop(): void;
  /** Whether bars are drawn. */
  readonly enabled: boolean;
}

/**
 * A progress display that draws only on a terminal, never more than ~10 times a second.
 * @example
 * ```ts
 * const p = createProgress();
 * p.phase('reading', size, 'B');
 * p.update(done);
 * p.stop();
 * ```
 */
export function createProgress(enabled = Boolean(process.stdout.isTTY && process.stderr.isTTY)): Progress {
  if (!enabled) {
    return { phase() {}, update() {}, stop() {}, enabled: false };
  }
  let bar: cliProgress.SingleBar | undefined;
  let current = '';
  const stop = () => {
    bar?.stop();
    bar = undefined;
    current = '';
  };
  return {
    enabled: true,
    phase(label, total, unit = '') {
      // Repeated calls for the same phase only adjust the total (the bar keeps its clock).
      const key = `${label}\0${unit}`;
      if (bar && key === current) {
        bar.setTotal(Math.max(1, total));
        return;
      }
      stop();
      current = key;
      bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: `${label.padEnd(15)} [{bar}] {percentage}% | {value}/{total}${unit ? ' ' + unit : ''} | {duration_formatted}`,
          fps: 10,
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(Math.max(1, total), 0);
    },
    update(value) {
      bar?.update(value);
    },
    stop,
  };
}
