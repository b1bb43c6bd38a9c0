/**
 * PPCA 9-2023 ECDH-PSI (interconnection with SecretFlow and other platforms): the handshake, the
 * main flow and the link interface it runs over. See docs/interconnection.md.
 * @module
 */
export { runPpcaPsi, trimAsciiWhitespace, PPCA_BATCH_SIZE, PPCA_COMPARE_BYTES, type RunPpcaPsiOptions, type PpcaPsiResult, type PpcaPhase, type PpcaProgress } from './run.js';
export { type PpcaResultToRank } from './handshake.js';
export type { PpcaChannel, PpcaLink, PpcaLinkStats } from './link.js';
