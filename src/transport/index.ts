export type { FrameTransport, TransportStats } from './types.js';
