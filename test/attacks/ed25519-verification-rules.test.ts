/**
 * Issue 16 finding 5: two Ed25519 verification rules. The session verified with @noble/curves'
 * default (ZIP-215: cofactored equation, non-canonical encodings accepted), the ledger with OpenSSL
 * (cofactorless). A peer whose signatures carry a mixed-order R (R = rB + T, T of order 8, S
 * computed honestly over that R) passes the first and fails the second: the victim's session
 * completed and then its ledger refused the co-signed receipt, so the run went unrecorded while the
 * peer kept a receipt it could show. With one rule everywhere (crypto/ed25519.ts), the session
 * refuses such a peer at the handshake, before any data moves.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { VerificationFailedError } from '../../src/errors.js';
import { generateIdentity, identityFromSecretKey } from '../../src/session/identity.js';
import { runPsi } from '../../src/session/run-psi.js';
import { createMemoryTransportPair } from '../../src/transport/index.js';
import { openLedger } from '../../src/ledger/node.js';

const hoisted = vi.hoisted(() => ({ attackerSeed: new Uint8Array(32).fill(7) }));

// The attacking peer's signer: a valid signature, except that R has a torsion component.
vi.mock('../../src/session/identity.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../src/session/identity.js')>();
  const { signWithScalar, T8 } = await import('../ed25519-cases.js');
  const { ed25519: ed } = await import('@noble/curves/ed25519.js');
  return {
    ...orig,
    signMessage: (secretKey: Uint8Array, message: Uint8Array): Uint8Array => {
      if (!secretKey.every((b, i) => b === hoisted.attackerSeed[i])) return orig.signMessage(secretKey, message);
      const { scalar } = ed.utils.getExtendedPublicKey(secretKey);
      const r = (BigInt('0x' + Buffer.from(ed.utils.randomSecretKey()).toString('hex')) % (ed.Point.Fn.ORDER - 1n)) + 1n;
      return signWithScalar(scalar, r, message, T8).signature;
    },
  };
});

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('finding 5: one Ed25519 verification rule', () => {
  it('a peer co-signing with mixed-order R is refused by the session at once, not by the ledger afterwards', async () => {
    const victim = generateIdentity();
    const attacker = identityFromSecretKey(hoisted.attackerSeed);
    // The attacker's key itself is an ordinary prime-order key: only its signatures are crafted.
    expect(attacker.publicKey).toEqual(ed25519.getPublicKey(hoisted.attackerSeed));
    const dir = mkdtempSync(join(tmpdir(), 'dataport-ed25519-rules-'));
    dirs.push(dir);
    const ledger = await openLedger(dir, { owner: victim });
    const [a, b] = createMemoryTransportPair();
    const records = ['110101199003077777', '110101199003078888'];
    const [mine, theirs] = await Promise.allSettled([
      runPsi({ role: 'requester', records, transport: a, identity: victim, peerPublicKey: attacker.publicKey, terms: { reveal: 'requester', purpose: 'audit' } }),
      runPsi({ role: 'responder', records, transport: b, identity: attacker, peerPublicKey: victim.publicKey }),
    ]);
    if (mine.status === 'fulfilled') {
      // The flaw as it was: the session took the receipt, the victim's own ledger refuses it.
      await expect(ledger.append(mine.value.receipt)).rejects.toThrow(VerificationFailedError);
    }
    await ledger.close();
    expect(mine.status).toBe('rejected');
    expect((mine as PromiseRejectedResult).reason).toBeInstanceOf(VerificationFailedError);
    expect(theirs.status).toBe('rejected');
    expect(ledger.size).toBe(0);
  }, 60_000);
});
