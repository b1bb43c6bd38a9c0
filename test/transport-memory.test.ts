import { describe, expect, it } from 'vitest';
import { createMemoryTransportPair } from '../src/transport/index.js';
import {
  AbortError,
  LimitExceededError,
  TimeoutError,
  TransportClosedError,
  MalformedMessageError,
} from '../src/errors.js';

const bytes = (...v: number[]) => new Uint8Array(v);

describe('createMemoryTransportPair', () => {
  it('delivers frames in order in both directions and counts them', async () => {
    const [a, b] = createMemoryTransportPair();
    await a.send(bytes(1, 2, 3));
    await a.send(bytes(4));
    await b.send(bytes(9, 9));
    expect(await b.receive()).toEqual(bytes(1, 2, 3));
    expect(await b.receive()).toEqual(bytes(4));
    expect(await a.receive()).toEqual(bytes(9, 9));
    expect(a.stats).toEqual({ bytesSent: 4, bytesReceived: 2, framesSent: 2, framesReceived: 1 });
    expect(b.stats).toEqual({ bytesSent: 2, bytesReceived: 4, framesSent: 1, framesReceived: 2 });
    expect(a.side).toBe('a');
    expect(b.side).toBe('b');
  });

  it('copies frames so the sender may reuse its buffer', async () => {
    const [a, b] = createMemoryTransportPair();
    const f = bytes(1, 2);
    await a.send(f);
    f[0] = 7;
    expect(await b.receive()).toEqual(bytes(1, 2));
  });

  it('resolves a pending receive when a frame arrives', async () => {
    const [a, b] = createMemoryTransportPair();
    const p = b.receive();
    await a.send(bytes(5));
    expect(await p).toEqual(bytes(5));
  });

  it('applies backpressure: send waits until the receiver has room', async () => {
    const [a, b] = createMemoryTransportPair({ maxBufferedFrames: 2 });
    await a.send(bytes(1));
    await a.send(bytes(2));
    let third = false;
    const p = a.send(bytes(3)).then(() => {
      third = true;
    });
    // Let every queued microtask run: the third send must still be pending.
    await new Promise((r) => setImmediate(r));
    expect(third).toBe(false);
    expect(b.bufferedFrames).toBe(2);
    expect(await b.receive()).toEqual(bytes(1));
    await p;
    expect(third).toBe(true);
    expect(await b.receive()).toEqual(bytes(2));
    expect(await b.receive()).toEqual(bytes(3));
  });

  it('bounds buffered bytes, but admits one large legal frame into an empty buffer', async () => {
    const [a, b] = createMemoryTransportPair({ maxBufferedBytes: 10 });
    await a.send(new Uint8Array(100)); // empty buffer: accepted
    let second = false;
    const p = a.send(new Uint8Array(1)).then(() => {
      second = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(second).toBe(false);
    expect((await b.receive()).length).toBe(100);
    await p;
    expect((await b.receive()).length).toBe(1);
  });

  it('keeps order for sends that are not awaited one by one', async () => {
    const [a, b] = createMemoryTransportPair({ maxBufferedFrames: 1 });
    const sends = [1, 2, 3, 4, 5].map((i) => a.send(bytes(i)));
    const got: number[] = [];
    for (let i = 0; i < 5; i++) got.push((await b.receive())[0]!);
    await Promise.all(sends);
    expect(got).toEqual([1, 2, 3, 4, 5]);
  });

  it('refuses an oversized frame at the sender without sending anything', async () => {
    const [a, b] = createMemoryTransportPair({ maxFrameBytes: 8 });
    await expect(a.send(new Uint8Array(9))).rejects.toBeInstanceOf(LimitExceededError);
    await a.send(new Uint8Array(8));
    expect((await b.receive()).length).toBe(8);
  });

  it('the receiver enforces its own frame limit and tears the channel down', async () => {
    const [a, b] = createMemoryTransportPair({ maxFrameBytes: 100, b: { maxFrameBytes: 8 } });
    const recv = b.receive();
    await expect(a.send(new Uint8Array(9))).rejects.toBeInstanceOf(TransportClosedError);
    await expect(recv).rejects.toBeInstanceOf(LimitExceededError);
    await expect(b.receive()).rejects.toBeInstanceOf(LimitExceededError);
    await expect(a.receive()).rejects.toBeInstanceOf(TransportClosedError);
    expect(a.closed && b.closed).toBe(true);
  });

  it('enforces the per-session byte limit on send and on receive', async () => {
    const [a] = createMemoryTransportPair({ maxSessionBytes: 10 });
    await a.send(new Uint8Array(6));
    await expect(a.send(new Uint8Array(5))).rejects.toBeInstanceOf(LimitExceededError);

    // A peer that ignores its own limit (played through intercept) trips the receiver's.
    const [c, d] = createMemoryTransportPair({
      maxSessionBytes: 10,
      intercept: (f, from) => (from === 'a' ? [f, f] : undefined),
    });
    await c.send(new Uint8Array(4)); // delivered twice: 8 bytes
    await expect(c.send(new Uint8Array(4))).rejects.toBeInstanceOf(TransportClosedError);
    // The violation tears the channel down: what was buffered is dropped, the limit is reported.
    await expect(d.receive()).rejects.toBeInstanceOf(LimitExceededError);
    expect(d.closed).toBe(true);
  });

  it('close is graceful: buffered frames are delivered, then TransportClosedError', async () => {
    const [a, b] = createMemoryTransportPair();
    await a.send(bytes(1));
    await a.close();
    expect(await b.receive()).toEqual(bytes(1));
    await expect(b.receive()).rejects.toBeInstanceOf(TransportClosedError);
    await expect(b.send(bytes(2))).rejects.toBeInstanceOf(TransportClosedError);
    await expect(a.send(bytes(2))).rejects.toBeInstanceOf(TransportClosedError);
    await expect(a.receive()).rejects.toBeInstanceOf(TransportClosedError);
  });

  it("close rejects the other side's pending receive and pending sends", async () => {
    const [a, b] = createMemoryTransportPair({ maxBufferedFrames: 1 });
    const pendingReceive = b.receive();
    await a.close('bye');
    await expect(pendingReceive).rejects.toBeInstanceOf(TransportClosedError);

    const [c, d] = createMemoryTransportPair({ maxBufferedFrames: 1 });
    await c.send(bytes(1));
    const blocked = c.send(bytes(2)); // waits for room at d
    await d.close();
    await expect(blocked).rejects.toBeInstanceOf(TransportClosedError);
  });

  it('destroy drops buffered frames and fails both ends at once', async () => {
    const [a, b] = createMemoryTransportPair();
    await a.send(bytes(1));
    const pending = a.receive();
    a.destroy();
    await expect(pending).rejects.toBeInstanceOf(TransportClosedError);
    await expect(b.receive()).rejects.toBeInstanceOf(TransportClosedError);
    const [c, d] = createMemoryTransportPair();
    d.destroy(new MalformedMessageError());
    await expect(c.receive()).rejects.toBeInstanceOf(MalformedMessageError);
  });

  it('honours AbortSignal on receive and on a blocked send without losing frames', async () => {
    const [a, b] = createMemoryTransportPair({ maxBufferedFrames: 1 });
    const ac = new AbortController();
    const r = b.receive(ac.signal);
    ac.abort();
    await expect(r).rejects.toBeInstanceOf(AbortError);
    await expect(b.receive(AbortSignal.abort())).rejects.toBeInstanceOf(AbortError);

    await a.send(bytes(1));
    const ac2 = new AbortController();
    const s = a.send(bytes(2), ac2.signal);
    await new Promise((r) => setImmediate(r)); // s is now waiting for room
    expect(b.bufferedFrames).toBe(1);
    ac2.abort();
    await expect(s).rejects.toBeInstanceOf(AbortError);
    const s3 = a.send(bytes(3)); // blocked until b drains frame 1
    expect(await b.receive()).toEqual(bytes(1));
    await s3;
    expect(await b.receive()).toEqual(bytes(3));
    expect(a.stats.framesSent).toBe(2);
  });

  it('a send queued behind a blocked send rejects at once on abort and is never delivered', async () => {
    const [a, b] = createMemoryTransportPair({ maxBufferedFrames: 1 });
    await a.send(bytes(1));
    const blocked = a.send(bytes(2)); // waits for room
    const ac = new AbortController();
    const queued = a.send(bytes(3), ac.signal); // waits behind `blocked`
    ac.abort();
    await expect(queued).rejects.toBeInstanceOf(AbortError);
    expect(await b.receive()).toEqual(bytes(1));
    await blocked;
    expect(await b.receive()).toEqual(bytes(2));
    await a.send(bytes(4));
    expect(await b.receive()).toEqual(bytes(4));
    expect(a.stats.framesSent).toBe(3);
  });

  it('an idle timeout ends the channel with TimeoutError', async () => {
    const [a, b] = createMemoryTransportPair({ b: { idleTimeoutMs: 20 } });
    await expect(b.receive()).rejects.toBeInstanceOf(TimeoutError);
    await expect(a.receive()).rejects.toBeInstanceOf(TransportClosedError);
  });

  it('intercept can replace, drop and inject frames', async () => {
    const [a, b] = createMemoryTransportPair({
      intercept: (f, from, i) => {
        if (from !== 'a') return undefined;
        if (i === 0) return bytes(0xff);
        if (i === 1) return [];
        return undefined;
      },
    });
    await a.send(bytes(1));
    await a.send(bytes(2));
    await a.send(bytes(3));
    expect(await b.receive()).toEqual(bytes(0xff));
    expect(await b.receive()).toEqual(bytes(3));
  });

  it('rejects bad options and non-byte frames', async () => {
    expect(() => createMemoryTransportPair({ maxFrameBytes: 0 })).toThrow(RangeError);
    expect(() => createMemoryTransportPair({ a: { maxBufferedFrames: 1.5 } })).toThrow(/options\.a\.maxBufferedFrames/);
    const [a] = createMemoryTransportPair();
    await expect(a.send('x' as unknown as Uint8Array)).rejects.toBeInstanceOf(TypeError);
  });
});
