/**
 * Worker entry point (built to `dist/workers/worker.js` and `dist/browser/workers/worker.js`):
 * exposes the task API to the pool through comlink. `parentEndpoint()` is `worker_threads`'
 * parentPort on Node and the worker's global scope in browsers.
 * @module
 */
import { expose } from 'comlink';
import { parentEndpoint } from '../platform/node.js';
import { installErrorTransfer } from './error-transfer.js';
import { createWorkerApi } from './worker-api.js';

installErrorTransfer();
expose(createWorkerApi(), parentEndpoint());
