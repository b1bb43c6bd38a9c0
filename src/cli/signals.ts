/**
 * The CLI's process-wide cancellation: the first Ctrl-C aborts {@link cliSignal} so a running
 * session ends cleanly (the peer sees the connection close and fails with a typed error); the
 * second one exits at once.
 * @module
 */

const controller = new AbortController();

/**
 * Aborted on the first SIGINT / SIGTERM. Commands pass it to every long operation.
 * @example
 * ```ts
 * await runSomething({ signal: cliSignal });
 * ```
 */
export const cliSignal: AbortSignal = controller.signal;

/**
 * Aborts {@link cliSignal}; returns true if it was already aborted (the caller should exit now).
 * @example
 * ```ts
 * process.on('SIGINT', () => { if (interrupt()) process.exit(130); });
 * ```
 */
export function interrupt(): boolean {
  if (controller.signal.aborted) return true;
  controller.abort();
  return false;
}
