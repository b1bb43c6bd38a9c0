export type { FrameTransport, TransportStats } from './types.js';
export {
  createMemoryTransportPair,
  type MemoryTransport,
  type MemoryTransportLimits,
  type MemoryTransportOptions,
  type MemoryTransportSide,
} from './memory.js';
export {
  CloseCode,
  DEFAULT_WEBSOCKET_LIMITS,
  WebSocketFrameTransport,
  type WebSocketLimits,
} from './websocket-core.js';
export { createRateLimiter, DEFAULT_RATE_LIMIT, type RateLimiter, type RateLimitOptions } from './rate-limit.js';
export {
  connectNativeWebSocket,
  type ConnectNativeWebSocketOptions,
  type NativeWebSocketConstructor,
  type NativeWebSocketLike,
} from './websocket-browser.js';
export {
  createMemoryPpcaLinkPair,
  createPpcaLinkEndpoint,
  type PpcaDeliver,
  type PpcaLinkEndpoint,
  type PpcaLinkOptions,
  type MemoryPpcaLinkOptions,
} from './ppca-link.js';
