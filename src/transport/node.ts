/**
 * Node-only transports (`dataport/node`): the `ws`-based WebSocket client and listener, and the
 * PPCA interconnection link over gRPC.
 * @module
 */
export {
  connectWebSocket,
  listenWebSocket,
  type ConnectWebSocketOptions,
  type ListenWebSocketOptions,
  type PemInput,
  type RefusedConnection,
  type TlsServerOptions,
  type WebSocketServerAddress,
  type WebSocketServerHandle,
  type WebSocketSessionInfo,
} from './websocket-node.js';
export { createGrpcPpcaLink, PPCA_PUSH_PATH, type GrpcPpcaLink, type GrpcPpcaLinkOptions, type PpcaTlsOptions } from './ppca-link-grpc.js';
