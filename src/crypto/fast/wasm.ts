/**
 * Loading of the curve25519 WebAssembly module (curve25519.c, embedded as base64 by
 * scripts/build-wasm.sh).
 *
 * Instantiation is lazy and synchronous where the runtime allows it (Node, workers). Chromium
 * refuses synchronous compilation of modules above 4 KB on the main thread, and a
 * Content-Security-Policy without 'wasm-unsafe-eval' refuses WebAssembly altogether: then
 * {@link getWasm} returns `undefined` and callers take the reference (BigInt) path, until
 * {@link initWasm} has compiled the module asynchronously.
 * @module
 */
import { fromBase64 } from '../../utils/bytes.js';
import { CURVE25519_WASM_BASE64 } from './wasm-bytes.generated.js';

/** The module's exports (see curve25519.c for the contract of each). */
export interface Curve25519Wasm {
  readonly memory: WebAssembly.Memory;
  /** Address of the input buffer (`chunk * 48` bytes). */
  io_in(): number;
  /** Address of the output buffer (`chunk * 32` bytes). */
  io_out(): number;
  /** Maximum number of items per call. */
  io_chunk(): number;
  io_msg(): number;
  io_msg_cap(): number;
  io_lens(): number;
  io_dst(): number;
  xmd_begin(dstLen: number): number;
  xmd_prefix(len: number): number;
  xmd_many(count: number, first: number): number;
  xmd_start(): void;
  xmd_update(len: number): number;
  xmd_finish(index: number): number;
  hkdf_begin(infoLen: number): number;
  hkdf_batch(n: number, outLen: number): number;
  wipe(msgBytes: number, items: number): void;
  map_batch(n: number): void;
  legendre_batch(n: number): void;
  legendre_batch_ct(n: number): void;
}

/** A ready instance with views on its buffers (the memory never grows, so views stay valid). */
export interface WasmHandle {
  readonly exports: Curve25519Wasm;
  /** `chunk * 48` bytes of input. */
  readonly input: Uint8Array;
  /** `chunk * 32` bytes of output. */
  readonly output: Uint8Array;
  readonly chunk: number;
  /** Message area for expand_message_xmd (`msg.length` bytes). */
  readonly msg: Uint8Array;
  /** Lengths of the messages packed in `msg` (`chunk` entries). */
  readonly lens: Uint32Array;
  /** 256 bytes for the DST. */
  readonly dst: Uint8Array;
}

let handle: WasmHandle | undefined;
/** Set once synchronous compilation has failed, so it is not retried on every call. */
let syncFailed = false;
let pending: Promise<void> | undefined;
/** For tests: force the reference path even where WebAssembly works. */
let disabled = false;

function makeHandle(instance: WebAssembly.Instance): WasmHandle {
  const exports = instance.exports as unknown as Curve25519Wasm;
  const chunk = exports.io_chunk();
  const buf = exports.memory.buffer;
  return {
    exports,
    chunk,
    input: new Uint8Array(buf, exports.io_in(), chunk * 48),
    output: new Uint8Array(buf, exports.io_out(), chunk * 32),
    msg: new Uint8Array(buf, exports.io_msg(), exports.io_msg_cap()),
    lens: new Uint32Array(buf, exports.io_lens(), chunk),
    dst: new Uint8Array(buf, exports.io_dst(), 256),
  };
}

function wasmBytes(): Uint8Array<ArrayBuffer> {
  return fromBase64(CURVE25519_WASM_BASE64) as Uint8Array<ArrayBuffer>;
}

/**
 * The instance, compiled synchronously on first use where allowed; `undefined` when WebAssembly
 * is unavailable or only asynchronous compilation is allowed and {@link initWasm} has not finished.
 */
export function getWasm(): WasmHandle | undefined {
  if (disabled) return undefined;
  if (handle !== undefined || syncFailed) return handle;
  try {
    if (typeof WebAssembly === 'undefined') throw new Error('no WebAssembly');
    handle = makeHandle(new WebAssembly.Instance(new WebAssembly.Module(wasmBytes()), {}));
  } catch {
    syncFailed = true;
  }
  return handle;
}

/**
 * Compiles and instantiates the module asynchronously (allowed on a browser's main thread).
 * Resolves in every case: if WebAssembly is refused, the reference path stays in use.
 */
export function initWasm(): Promise<void> {
  if (handle !== undefined) return Promise.resolve();
  pending ??= (async () => {
    try {
      if (typeof WebAssembly === 'undefined') return;
      const module = await WebAssembly.compile(wasmBytes());
      const instance = await WebAssembly.instantiate(module, {});
      handle ??= makeHandle(instance);
    } catch {
      // WebAssembly refused (CSP, old engine): keep the reference path.
    }
  })();
  return pending;
}

/** Test hook: `true` makes {@link getWasm} return `undefined` (reference path everywhere). */
export function setWasmDisabledForTesting(value: boolean): void {
  disabled = value;
}
