/**
 * `dataport ppca-psi` end to end: both ranks as separate processes over gRPC on 127.0.0.1, for
 * every suite and every result_to_rank. Rank 0 binds port 0 and prints its port; rank 1's port
 * is one the system just handed out (a listener on port 0, closed before rank 1 binds it), since
 * each side must be told the other's address at start.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { assertBuilt, expectOneLineError, killAll, lastJson, runPpcaPair, startCli, tempDir, type CliResult } from './cli-helpers.js';

assertBuilt();
const tmp = tempDir('dataport-ppca-');
afterEach(() => killAll());
afterAll(() => tmp.cleanup());

const A = join(tmp.dir, 'a.csv');
const B = join(tmp.dir, 'b.csv');
// Rank 0: keys with spaces around (trimmed), a duplicate, CRLF line ends; rank 1: key in column 2.
writeFileSync(A, 'id,name\r\n alice ,A\r\nbob,B\r\ncarol,C\r\nbob,B2\r\nAlice,D\r\n');
writeFileSync(B, 'name,id\nx,carol\ny,bob\nz,erin\nw,alice\n');

const pair = runPpcaPair;

describe('dataport ppca-psi, two processes over gRPC', () => {
  for (const suite of ['curve25519-sha256-direct', 'sm2-sha256-tar', 'sm2-sm3-tai']) {
    for (const rtr of ['-1', '0', '1']) {
      it(`${suite}, --result-to-rank ${rtr}`, async () => {
        const out0 = join(tmp.dir, `o0-${suite}-${rtr}.csv`);
        const out1 = join(tmp.dir, `o1-${suite}-${rtr}.csv`);
        const learns0 = rtr !== '1';
        const learns1 = rtr !== '0';
        const common = ['--suite', suite, '--result-to-rank', rtr, '--json', '--workers', suite === 'curve25519-sha256-direct' ? '1' : '0'];
        const [r0, r1] = await pair(
          ['--input', A, '--key', 'id', ...common, ...(learns0 ? ['--output', out0] : [])],
          ['--input', B, '--key', 'id', ...common, ...(learns1 ? ['--output', out1] : [])],
        );
        expect(r0.code, r0.stderr).toBe(0);
        expect(r1.code, r1.stderr).toBe(0);
        const j0 = lastJson(r0.stdout);
        const j1 = lastJson(r1.stdout);
        expect(j0).toMatchObject({ ok: true, rank: 0, suite, learned: learns0, intersectionSize: learns0 ? 3 : null, inputRecords: 5, distinctKeys: 4, peerItemNum: 4 });
        expect(j1).toMatchObject({ ok: true, rank: 1, suite, learned: learns1, intersectionSize: learns1 ? 3 : null, inputRecords: 4, distinctKeys: 4, peerItemNum: 5 });
        expect(Object.keys(j0).sort()).toEqual(['bytesReceived', 'bytesSent', 'distinctKeys', 'inputRecords', 'intersectionSize', 'learned', 'ms', 'ok', 'peerItemNum', 'rank', 'suite']);
        expect(j0.bytesSent).toBe(j1.bytesReceived);
        if (learns0) expect(readFileSync(out0, 'utf8')).toBe('id,name\r\n alice ,A\r\nbob,B\r\ncarol,C\r\nbob,B2\r\n');
        if (learns1) expect(readFileSync(out1, 'utf8')).toBe('name,id\nx,carol\ny,bob\nw,alice\n');
        expect(existsSync(out0)).toBe(learns0);
        expect(existsSync(out1)).toBe(learns1);
        for (const r of [r0, r1]) expect(r.stderr).toMatch(/warning: the link is plain h2c: not encrypted, and the peer is not authenticated/);
      });
    }
  }

  it('a suite mismatch is refused on both sides with one line naming what differed', async () => {
    const [r0, r1] = await pair(['--input', A, '--key', 'id', '--suite', 'sm2-sha256-tar', '--json'], ['--input', B, '--key', 'id', '--workers', '0']);
    expect([r0.code, r1.code]).toEqual([1, 1]);
    expectOneLineError(r0.stderr, /refused the peer's handshake: 31100200 negotiate ec suits failed: requester offers ⟨CURVE25519, SHA_256, DIRECT_HASH_AS_POINT_X⟩, rank 0 uses ⟨SM2, SHA_256, TRY_AND_REHASH⟩ \(sm2-sha256-tar\)/);
    expectOneLineError(r1.stderr, /the peer \(rank 0\) refused the handshake: 31100200 HANDSHAKE_REFUSED: negotiate ec suits failed/);
    expect(lastJson(r0.stdout)).toMatchObject({ ok: false, code: 'ERR_PROTOCOL_VERSION' });
  });

  it('--ledger appends a one-sided receipt that ledger verify accepts', async () => {
    const keys = join(tmp.dir, 'keys');
    const led = join(tmp.dir, 'ledger');
    expect((await startCli(['keygen', '--out', keys]).done).code).toBe(0);
    const [r0, r1] = await pair(['--input', A, '--key', 'id', '--json', '--workers', '0', '--ledger', led, '--identity', keys], ['--input', B, '--key', 'id', '--workers', '0']);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r0.code, r0.stderr).toBe(0);
    expect(r0.stderr).toMatch(/one-sided receipt appended to .* \(entry 0; not co-signed by the peer\)/);
    const v = await startCli(['ledger', 'verify', '--ledger', led, '--public-key', join(keys, 'identity.pub'), '--json']).done;
    expect(v.code, v.stderr).toBe(0);
    expect(lastJson(v.stdout)).toMatchObject({ ok: true, size: 1, ownerKeyPinned: true });
    const ex = await startCli(['ledger', 'export', '--ledger', led, '--public-key', join(keys, 'identity.pub')]).done;
    expect(ex.code, ex.stderr).toBe(0);
    expect(ex.stdout).toMatch(/one-sided/);
    expect(ex.stdout).toMatch(/ppca-ecdh-psi/);
    expect(ex.stdout).toMatch(/curve25519-sha256-direct/);
    expect(ex.stdout).not.toMatch(/alice|carol/);
    const bad = await startCli(['ppca-psi', '--rank', '0', '--listen', '127.0.0.1:0', '--peer', '127.0.0.1:1', '--input', A, '--key', 'id', '--ledger', led]).done;
    expectOneLineError(bad.stderr, /--ledger and --identity go together/);
  });

  it('empty input on one side', async () => {
    const E = join(tmp.dir, 'empty.csv');
    writeFileSync(E, 'id\n');
    const [r0, r1] = await pair(['--input', E, '--key', 'id', '--json', '--workers', '0'], ['--input', B, '--key', 'id', '--json', '--workers', '0']);
    expect(lastJson(r0.stdout)).toMatchObject({ ok: true, intersectionSize: 0, inputRecords: 0, peerItemNum: 4 });
    expect(lastJson(r1.stdout)).toMatchObject({ ok: true, intersectionSize: 0, peerItemNum: 0 });
  });

  it('refuses bad options before listening', async () => {
    const base = ['ppca-psi', '--listen', '127.0.0.1:0', '--peer', '127.0.0.1:1', '--input', A, '--key', 'id'];
    const cases: [string[], RegExp][] = [
      [['--rank', '2'], /--rank must be one of 0, 1/],
      [['--rank', '1', '--result-to-rank', '0', '--output', join(tmp.dir, 'x.csv')], /rank 1 does not learn the intersection/],
      [['--rank', '0', '--suite', 'p256'], /--suite must be one of curve25519-sha256-direct, sm2-sha256-tar, sm2-sm3-tai/],
      [['--rank', '0', '--key', 'nope'], /no column 'nope'/],
      [['--rank', '0', '--tls-cert', A], /--tls-cert and --tls-key go together/],
    ];
    for (const [extra, re] of cases) {
      const args = [...base];
      const k = extra.indexOf('--key');
      if (k >= 0) args.splice(args.indexOf('--key'), 2);
      const r = await startCli([...args, ...extra]).done;
      expect(r.code).toBe(1);
      expectOneLineError(r.stderr, re);
      expect(r.stderr).not.toMatch(/listening on/);
    }
  });

  it('--help lists exactly the issue\'s options', async () => {
    const r = await startCli(['ppca-psi', '--help']).done;
    expect(r.code).toBe(0);
    for (const o of ['--rank', '--listen', '--peer', '--input', '--key', '--suite', '--result-to-rank', '--output', '--json', '--channel', '--timeout', '--workers', '--tls-cert', '--tls-key', '--ca', '--ledger']) expect(r.stdout).toContain(o);
  });
});
