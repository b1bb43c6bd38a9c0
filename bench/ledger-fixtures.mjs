// Shared by the ledger benchmarks: two identities and a receipt signer that signs natively
// (node:crypto Ed25519), so that a benchmark measures the ledger rather than the signing.
import { createPrivateKey, sign } from 'node:crypto';

/** `dp` is the imported dist/node.js. Returns the ledger owner, its peer and `signed(body)`. */
export function receiptSigner(dp) {
  const owner = dp.generateIdentity();
  const peer = dp.generateIdentity();
  // PKCS#8 prefix of an Ed25519 private key (RFC 8410), followed by the 32-byte seed.
  const keyOf = (seed) =>
    createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seed)]), format: 'der', type: 'pkcs8' });
  const keys = [keyOf(owner.secretKey), keyOf(peer.secretKey)];
  const signed = (body) => {
    const msg = Buffer.concat([dp.RECEIPT_SIGNATURE_CONTEXT, dp.encodeReceiptBody(body)]);
    return { body, signatures: [owner, peer].map((p, i) => ({ publicKey: p.publicKey, signature: new Uint8Array(sign(null, msg, keys[i])) })) };
  };
  return { owner, peer, signed };
}
