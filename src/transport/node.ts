/**
 * Node-only transports (`dataport/node`): the `ws`-based WebSocket client and listener.
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
