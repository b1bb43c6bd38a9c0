/**
 * The authenticated path of `dataport psi`: the session layer (mutual authentication, terms,
 * session binding) around the PSI protocol, the co-signed receipt, and the ledger.
 * @module
 */
import { UnsupportedError } from '../errors.js';
import type { PsiProgress } from '../protocols/psi/party.js';
import type { FrameTransport } from '../transport/types.js';
import type { PsiContext, PsiRunOutcome } from './commands/psi.js';

/**
 * Runs one authenticated PSI session over `transport`.
 * @example
 * ```ts
 * const outcome = await runSessionPsi(ctx, 'requester', transport, signal, () => {});
 * ```
 */
export async function runSessionPsi(
  _ctx: PsiContext,
  _role: 'requester' | 'responder',
  _transport: FrameTransport,
  _signal: AbortSignal,
  _onProgress: (p: PsiProgress) => void,
): Promise<PsiRunOutcome> {
  // Wired to the session layer's runPsi as soon as it lands (src/session/run-psi.ts).
  throw new UnsupportedError('authenticated psi sessions are not wired yet; only --insecure-interop works in this build');
}
