export type { FrameTransport, TransportStats } from './types.js';
export {
  createMemoryTransportPair,
  type MemoryTransport,
  type MemoryTransportLimits,
  type MemoryTransportOptions,
  type MemoryTransportSide,
} from './memory.js';
