// Page logic: read the CSV and the chosen column here, hand the keys to the PSI worker, show
// progress and the matching rows. The raw file never leaves the page.
import { parse } from '/vendor/csv-parse/sync.js';

const $ = (id) => document.getElementById(id);
const worker = new Worker('./psi-worker.js', { type: 'module' });
let table = null; // { header: string[], rows: string[][] }

function setStatus(text) {
  $('status').textContent = text;
}

worker.addEventListener('message', (e) => {
  const m = e.data;
  if (m.type === 'ready') {
    $('myKey').textContent = m.publicKey;
  } else if (m.type === 'progress') {
    $('progress').max = m.total || 1;
    $('progress').value = m.done;
    setStatus(`${m.phase}: ${m.done} / ${m.total}`);
  } else if (m.type === 'result') {
    $('count').textContent = String(m.intersectionSize);
    $('progress').value = $('progress').max;
    const col = Number($('column').value);
    const rows = (m.intersectionRows ?? []).map((i) => table.rows[i]);
    const t = $('rows');
    t.replaceChildren();
    const head = t.insertRow();
    for (const h of table.header) head.appendChild(Object.assign(document.createElement('th'), { textContent: h }));
    for (const r of rows.slice(0, 200)) {
      const tr = t.insertRow();
      for (const v of r) tr.insertCell().textContent = v;
    }
    setStatus(`done: ${m.intersectionSize} common keys of your ${m.distinctKeys} (peer: ${m.peerDistinctKeys}); ` +
      `sent ${m.bytesSent} B, received ${m.bytesReceived} B in ${m.ms} ms; key column "${table.header[col]}"`);
    document.body.dataset.state = 'done';
    $('run').disabled = false;
  } else if (m.type === 'error') {
    setStatus(`error: ${m.message}`);
    document.body.dataset.state = 'error';
    $('run').disabled = false;
  }
});

$('file').addEventListener('change', async () => {
  const file = $('file').files[0];
  if (!file) return;
  try {
    const text = await file.text();
    const records = parse(text, { bom: true, relax_column_count: false, skip_empty_lines: true });
    if (records.length < 1) throw new Error('the file is empty');
    table = { header: records[0], rows: records.slice(1) };
    const sel = $('column');
    sel.replaceChildren(...table.header.map((h, i) => Object.assign(document.createElement('option'), { value: String(i), textContent: h })));
    sel.disabled = false;
    $('run').disabled = false;
    setStatus(`${table.rows.length} rows, ${table.header.length} columns`);
  } catch (err) {
    setStatus(`cannot read the file: ${err.message}`);
  }
});

$('run').addEventListener('click', () => {
  if (!table) return;
  const col = Number($('column').value);
  $('run').disabled = true;
  document.body.dataset.state = 'running';
  $('count').textContent = '…';
  worker.postMessage({
    type: 'run',
    url: $('url').value.trim(),
    peerKey: $('peerKey').value.trim(),
    reveal: $('reveal').value,
    keys: table.rows.map((r) => r[col] ?? ''),
  });
});
