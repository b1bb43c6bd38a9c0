// The running example through the SDK instead of the command line: both parties in one process,
// connected by the in-memory transport (swap in connectWebSocket / listenWebSocket from
// 'dataport/node' to put them on two machines). Run after `npm run build`:
//   node examples/sdk.mjs
import { createMemoryTransportPair, generateIdentity, runPsi, runPsiSum, verifyReceipt } from '../dist/index.js';

const pharma = generateIdentity();
const hospital = generateIdentity();

// The pharmaceutical company's programme list, with the noise real files have.
const programme = ['110101199003070011', ' 11010119900307002x ', '４４０１０１１９８００１０１００３３', '320102198512120018'];
// The hospital's admissions: key, cost in yuan, adverse event (0/1). One patient came twice.
const admissions = [
  ['11010119900307002X', '1200.50', '0'],
  ['440101198001010033', '80.00', '1'],
  ['440101198001010033', '310.25', '0'],
  ['510104197702150016', '999.99', '1'],
];

// 1. Which programme patients were treated at the hospital? (both learn their own matching rows)
{
  const [a, b] = createMemoryTransportPair();
  const [p, h] = await Promise.all([
    runPsi({ role: 'requester', records: programme, transport: a, identity: pharma, peerPublicKey: hospital.publicKey,
      terms: { reveal: 'both', purpose: 'drug programme follow-up' } }),
    runPsi({ role: 'responder', records: admissions.map((r) => r[0]), transport: b, identity: hospital,
      peerPublicKey: pharma.publicKey }),
  ]);
  console.log('PSI');
  console.log('  pharma matched rows  :', p.intersectionRows.map((i) => programme[i].trim()));
  console.log('  hospital matched rows:', h.intersectionRows);
  if (p.intersectionRows.join() !== '1,2' || h.intersectionRows.join() !== '0,1,2') throw new Error('unexpected intersection');
  verifyReceipt(p.receipt, [pharma.publicKey, hospital.publicKey]);
  console.log('  receipt co-signed by both, outcome', p.receipt.body.outcome, 'sizes', p.receipt.body.outputSizes);
}

// 2. Their total and mean cost and their adverse events — without learning which patients.
{
  const [a, b] = createMemoryTransportPair();
  const [p] = await Promise.all([
    runPsiSum({ role: 'requester', records: programme, transport: a, identity: pharma, peerPublicKey: hospital.publicKey,
      terms: { reveal: 'both', purpose: 'cost study' } }),
    runPsiSum({ role: 'responder', records: admissions.map((r) => r[0]), transport: b, identity: hospital,
      peerPublicKey: pharma.publicKey,
      values: { columns: [{ name: 'cost_yuan' }, { name: 'adverse_event' }], rows: admissions.map((r) => [r[1], r[2]]) } }),
  ]);
  console.log('psi-sum');
  console.log('  common patients:', p.intersectionSize, ' sums:', p.sums, ' means:', p.means);
  // By hand from the lists above: patients ...002X (1200.50, 0) and ...0033 (80.00 + 310.25, 1 + 0).
  if (p.intersectionSize !== 2 || p.sums.cost_yuan !== '1590.75' || p.sums.adverse_event !== '1') {
    throw new Error('psi-sum result differs from the plain computation');
  }
}
