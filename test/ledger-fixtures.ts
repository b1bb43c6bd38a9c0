/**
 * Two parties with real ledgers: PSI runs over the in-memory transport (the SDK's `runPsi`), each
 * side appending its co-signed receipt to its own ledger, as the CLI's `--ledger` does.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeLogHeader, scanRecords } from '../src/ledger/log-format.js';
import { LEDGER_FILES, openLedger, type Ledger } from '../src/ledger/node.js';
import { generateIdentity, runPsi, type Identity } from '../src/session/index.js';
import { createMemoryTransportPair } from '../src/transport/memory.js';
import { psiTerms } from './session-fixtures.js';

export interface Party {
  identity: Identity;
  dir: string;
}

/** Two parties, each with an (empty, closed) ledger in a fresh temporary directory. */
export async function twoParties(prefix: string): Promise<{ hospital: Party; pharma: Party; cleanup(): void }> {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const make = async (name: string): Promise<Party> => {
    const identity = generateIdentity();
    const dir = join(root, name);
    await (await openLedger(dir, { owner: identity })).close();
    return { identity, dir };
  };
  return { hospital: await make('hospital'), pharma: await make('pharma'), cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** `runs` ECDH-PSI runs between requester `pharma` and responder `hospital`, each recording its receipt. */
export async function psiRuns(pharma: Party, hospital: Party, runs: number): Promise<void> {
  const lp: Ledger = await openLedger(pharma.dir, { owner: pharma.identity });
  const lh: Ledger = await openLedger(hospital.dir, { owner: hospital.identity });
  try {
    for (let i = 0; i < runs; i++) {
      const [a, b] = createMemoryTransportPair();
      const keys = Array.from({ length: 8 }, (_, k) => `patient-${i}-${k}`);
      const [rq, rs] = await Promise.all([
        runPsi({
          role: 'requester', records: keys.slice(0, 6), transport: a, identity: pharma.identity,
          peerPublicKey: hospital.identity.publicKey, terms: psiTerms({ requesterSetSize: 6 }), onReceipt: async (r) => void (await lp.append(r)),
        }),
        runPsi({
          role: 'responder', records: keys.slice(2), transport: b, identity: hospital.identity,
          peerPublicKey: pharma.identity.publicKey, onReceipt: async (r) => void (await lh.append(r)),
        }),
      ]);
      if (rq.intersectionSize !== 4 || rs.learned !== 'nothing') throw new Error('fixture run gave a wrong intersection');
    }
  } finally {
    await lp.close();
    await lh.close();
  }
}

/** Cuts the last `n` entries off the log (what deleting them with a hex editor does). */
export function cutLastEntries(dir: string, n: number): void {
  const path = join(dir, LEDGER_FILES.log);
  const log = new Uint8Array(readFileSync(path));
  const { length } = decodeLogHeader(log);
  const { records } = scanRecords(log, length, 0);
  if (records.length < n) throw new Error(`the log holds only ${records.length} entries`);
  truncateSync(path, n === 0 ? log.length : records[records.length - n]!.offset);
}

/**
 * The owner rewrites its own ledger: a fresh log with the same key and origin holding only the
 * entries `keep` selects, every seal signed again, put in place of the old one.
 */
export async function rewriteLedger(party: Party, keep: (index: number) => boolean): Promise<void> {
  const old = await openLedger(party.dir, { owner: party.identity });
  const receipts = await old.readReceipts();
  const origin = old.origin;
  await old.close();
  const fresh = `${party.dir}.rewritten`;
  const l = await openLedger(fresh, { owner: party.identity, origin });
  for (const [i, r] of receipts.entries()) if (keep(i)) await l.append(r);
  await l.close();
  rmSync(party.dir, { recursive: true, force: true });
  renameSync(fresh, party.dir);
}
