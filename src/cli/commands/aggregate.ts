/**
 * `dataport aggregate serve|analyst|provide`: multi-party homomorphic aggregation over WebSocket
 * (docs/aggregate.md). The port operator runs `serve`; each hospital runs `provide` on its CSV file;
 * the analyst runs `analyst` with a query file and receives only the total.
 *
 * Roles on one listener are told apart by the first frame of each connection: QUERY (analyst) or
 * JOIN (provider). The round starts once the analyst and `--providers` providers are connected.
 *
 * Not authenticated: these connections do not run the session layer's identity handshake (unlike
 * `dataport psi`); use `wss://` and network controls, and see the limitation in docs/aggregate.md.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parsePublicKeyFile, parseSecretKeyFile } from '../../session/identity.js';
import { InputError, MalformedMessageError, TimeoutError } from '../../errors.js';
import {
  AGGREGATE_MAX_FRAME_BYTES,
  AGGREGATE_QUERY_LIMITS,
  AbortReason,
  AggregateMessageType,
  createLocalAggregator,
  encodeAggregateMessage,
  parseAggregateQuery,
  requiredColumns,
  runAggregator,
  runAnalyst,
  runProvider,
  type AggregateQuery,
} from '../../protocols/aggregate/index.js';
import type { FrameTransport, TransportStats } from '../../transport/types.js';
import type { WebSocketLimits } from '../../transport/websocket-core.js';
import { connectWebSocket, listenWebSocket } from '../../transport/websocket-node.js';
import { intOption, parseCommandArgs, parseHostPort, secondsOption, stringOption } from '../args.js';
import { resolveColumns, scanCsv } from '../csv.js';
import { openAtomicOutput } from '../files.js';
import { cliSignal } from '../signals.js';
import { parseEpsilon } from '../../protocols/guardrails.js';
import { createReporter } from '../summary.js';

const HELP = `Usage:
  dataport aggregate serve   --listen HOST:PORT --providers N [--timeout SECONDS] [--json]
  dataport aggregate analyst --connect URL --query QUERY.json --output RESULT.json [--identity DIR] [--timeout SECONDS] [--json]
  dataport aggregate provide --connect URL --input FILE.csv [--analyst-key FILE.pub] [--min-cohort N] [--max-epsilon E] [--timeout SECONDS] [--json]

serve     the port operator: waits for the analyst and N providers, sums their encrypted
          vectors and returns only the re-randomised total to the analyst (no secret key)
analyst   sends the query (docs/aggregate.md) and an HE public key; writes the result JSON
provide   reduces FILE.csv to the query's statistics and sends them encrypted

--identity     analyst: sign the query and HE public key with DIR/identity.key (dataport keygen)
--analyst-key  provide: encrypt only under a key signed by this analyst (its identity.pub);
               without it, a provider trusts the server to forward the real analyst's key
--min-cohort   provide: refuse a query whose minCohort is below N
--max-epsilon  provide: refuse a query without differential privacy or with a total epsilon above E
--timeout  serve: seconds to collect contributions once the query arrived (default 600);
           analyst/provide: seconds to wait for the server (default 900)
`;

function limitsFor(timeoutMs: number): WebSocketLimits {
  return {
    maxFrameBytes: AGGREGATE_MAX_FRAME_BYTES,
    receiveQueueBytes: 2 * AGGREGATE_MAX_FRAME_BYTES,
    idleTimeoutMs: timeoutMs + 60_000,
    overallTimeoutMs: timeoutMs * 2 + 120_000,
  };
}

/** A transport whose first frame was already read (to tell roles apart): replays it once. */
function replayFirst(t: FrameTransport, first: Uint8Array | undefined): FrameTransport {
  let pending = first;
  return {
    send: (frame, signal) => t.send(frame, signal),
    async receive(signal) {
      if (pending !== undefined) {
        const f = pending;
        pending = undefined;
        return f;
      }
      return t.receive(signal);
    },
    close: (reason) => t.close(reason),
    get stats(): TransportStats {
      return t.stats;
    },
  };
}

async function serve(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('aggregate serve', argv, {
    listen: { type: 'string' },
    providers: { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const out = createReporter(values.json === true);
  const { host, port } = parseHostPort(stringOption(values, 'listen', true), 'listen');
  const n = intOption(values, 'providers', 2, AGGREGATE_QUERY_LIMITS.maxProviders);
  if (n === undefined) throw new InputError("option --providers is required (see 'dataport aggregate --help')");
  const timeoutMs = secondsOption(values, 'timeout', 600_000);

  let analyst: FrameTransport | undefined;
  const providers: FrameTransport[] = [];
  let ready!: () => void;
  const allConnected = new Promise<void>((resolve) => (ready = resolve));
  let finished!: () => void;
  const roundOver = new Promise<void>((resolve) => (finished = resolve));
  const refuse = encodeAggregateMessage({ type: AggregateMessageType.ABORT, reason: AbortReason.PROTOCOL_ERROR });

  const server = await listenWebSocket({ host, port, limits: limitsFor(timeoutMs), maxConnections: n + 4 }, async (t) => {
    let first: Uint8Array;
    try {
      first = await t.receive(cliSignal);
    } catch {
      return;
    }
    if (first[0] === AggregateMessageType.QUERY && analyst === undefined) {
      analyst = replayFirst(t, first);
    } else if (first.length === 2 && first[0] === AggregateMessageType.JOIN && providers.length < n) {
      // The JOIN frame is consumed here; the state machine does not need it.
      providers.push(replayFirst(t, undefined));
    } else {
      await t.send(refuse).catch(() => {});
      return;
    }
    if (analyst !== undefined && providers.length === n) ready();
    await roundOver; // the listener closes the connection when this handler returns
  });
  // On stderr whatever --json says: scripts and tests read the bound port from it.
  process.stderr.write(`listening on ${server.address().url} for 1 analyst and ${n} providers\n`);
  try {
    // Everyone must connect within the same timeout; otherwise the round ends (the listener's
    // close() then ends every waiting connection with TransportClosedError).
    let joinTimer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        allConnected,
        new Promise<never>((_, reject) => {
          joinTimer = setTimeout(() => reject(new TimeoutError(`the analyst and ${n} providers did not all connect in time`)), timeoutMs);
        }),
        new Promise<never>((_, reject) => cliSignal.addEventListener('abort', () => reject(new TimeoutError('interrupted')), { once: true })),
      ]);
    } finally {
      clearTimeout(joinTimer);
    }
    const outcome = await runAggregator({ analyst: analyst!, providers, timeoutMs, signal: cliSignal });
    const summary = { ok: outcome.status === 'completed', command: 'aggregate serve', ...outcome };
    if (outcome.status === 'completed') {
      out.info(`round ${outcome.queryId ?? ''} completed: ${outcome.contributors} of ${outcome.expected} providers contributed`);
      out.json(summary);
      return 0;
    }
    const reason = Object.entries(AbortReason).find(([, v]) => v === outcome.reason)?.[0]?.toLowerCase().replace(/_/g, ' ') ?? 'error';
    out.info(`round aborted: ${reason}`);
    out.json({ ...summary, reason });
    return 1;
  } finally {
    finished();
    await server.close();
  }
}

async function readSmallFile(path: string, what: string, maxBytes: number): Promise<string> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new InputError(`${what} ${path}: cannot read`);
  }
  if (!st.isFile() || st.size > maxBytes) throw new InputError(`${what} ${path}: not a regular file of at most ${maxBytes} bytes`);
  return readFile(path, 'utf8');
}

async function readQueryFile(path: string): Promise<AggregateQuery> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new InputError(`${path}: cannot read query file`);
  }
  if (!st.isFile() || st.size > AGGREGATE_QUERY_LIMITS.maxBytes) throw new InputError(`${path}: not a query file of at most ${AGGREGATE_QUERY_LIMITS.maxBytes} bytes`);
  let value: unknown;
  try {
    value = JSON.parse((await readFile(path, 'utf8')).replace(/^\uFEFF/, ''));
  } catch {
    throw new InputError(`${path}: not valid JSON`);
  }
  try {
    return parseAggregateQuery(value);
  } catch (e) {
    if (e instanceof MalformedMessageError) throw new InputError(`${path}: ${e.message}`);
    throw e;
  }
}

async function analystCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('aggregate analyst', argv, {
    connect: { type: 'string' },
    query: { type: 'string' },
    output: { type: 'string' },
    identity: { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const out = createReporter(values.json === true);
  const url = stringOption(values, 'connect', true);
  const query = await readQueryFile(stringOption(values, 'query', true));
  const outputPath = stringOption(values, 'output', true);
  const timeoutMs = secondsOption(values, 'timeout', 900_000);
  const identityDir = stringOption(values, 'identity');
  let identitySecretKey: Uint8Array | undefined;
  if (identityDir !== undefined) {
    const path = join(identityDir, 'identity.key');
    try {
      identitySecretKey = parseSecretKeyFile(await readSmallFile(path, 'identity', 4096));
    } catch (e) {
      throw new InputError(e instanceof InputError ? e.message : `${path}: not a dataport identity key`);
    }
  }
  const output = await openAtomicOutput(outputPath);
  try {
    const t = await connectWebSocket(url, { limits: limitsFor(timeoutMs), signal: cliSignal });
    try {
      const result = await runAnalyst(t, { query, timeoutMs, signal: cliSignal, ...(identitySecretKey !== undefined ? { identitySecretKey } : {}) });
      await output.write(new TextEncoder().encode(`${JSON.stringify(result, null, 2)}\n`));
      await output.commit();
      out.info(`result of ${result.queryId}: ${result.groups.length} group(s), ${result.guardrails.withheldGroups} withheld, ${result.contributors} of ${result.expectedProviders} providers; written to ${outputPath}`);
      out.json({ ok: true, command: 'aggregate analyst', queryId: result.queryId, contributors: result.contributors, groups: result.groups.length, withheldGroups: result.guardrails.withheldGroups, output: outputPath });
      return 0;
    } finally {
      await t.close();
    }
  } catch (e) {
    await output.abort();
    throw e;
  }
}

async function provideCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('aggregate provide', argv, {
    connect: { type: 'string' },
    input: { type: 'string' },
    'analyst-key': { type: 'string' },
    'min-cohort': { type: 'string' },
    'max-epsilon': { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const out = createReporter(values.json === true);
  const url = stringOption(values, 'connect', true);
  const input = stringOption(values, 'input', true);
  const timeoutMs = secondsOption(values, 'timeout', 900_000);
  // The provider's own guardrails: the data owner decides what it will contribute to.
  const minCohort = intOption(values, 'min-cohort', 0, 1_000_000_000, 0);
  const maxEpsilonText = stringOption(values, 'max-epsilon');
  let maxEpsilon: bigint | undefined;
  if (maxEpsilonText !== undefined) {
    try {
      maxEpsilon = parseEpsilon(maxEpsilonText).num;
    } catch {
      throw new InputError(`option --max-epsilon must be a decimal in (0, 100] with at most 6 places, got '${maxEpsilonText}'`);
    }
  }
  const analystKeyFile = stringOption(values, 'analyst-key');
  let analystPublicKey: Uint8Array | undefined;
  if (analystKeyFile !== undefined) {
    try {
      analystPublicKey = parsePublicKeyFile(await readSmallFile(analystKeyFile, 'analyst key', 4096));
    } catch (e) {
      throw new InputError(e instanceof InputError ? e.message : `${analystKeyFile}: not a dataport identity.pub`);
    }
  }
  const acceptQuery = (q: AggregateQuery): boolean =>
    q.minCohort >= minCohort && (maxEpsilon === undefined || (q.dp !== null && parseEpsilon(q.dp.epsilon).num <= maxEpsilon));
  try {
    if (!(await stat(input)).isFile()) throw new Error('not a file');
  } catch {
    throw new InputError(`${input}: cannot read input file`);
  }
  let rows = 0;
  const localAggregates = async (query: AggregateQuery): Promise<bigint[]> => {
    const columns = requiredColumns(query);
    const acc = createLocalAggregator(query);
    await scanCsv(
      input,
      { columns, signal: cliSignal, onHeader: (header) => void resolveColumns(input, header, columns) },
      (row) => {
        const record: Record<string, string> = {};
        columns.forEach((c, i) => (record[c] = row.values[i]!));
        try {
          acc.add(record);
        } catch (e) {
          if (e instanceof InputError) throw new InputError(`${input}: line ${row.line}: ${e.message.replace(/^row \d+: /, '')}`);
          throw e;
        }
      },
    );
    rows = acc.rows;
    return acc.result();
  };
  const t = await connectWebSocket(url, { limits: limitsFor(timeoutMs), signal: cliSignal });
  try {
    const done = await runProvider(t, { localAggregates, acceptQuery, timeoutMs, signal: cliSignal, ...(analystPublicKey !== undefined ? { analystPublicKey } : {}) });
    out.info(`contributed ${rows} rows to ${done.queryId}; the released total covers ${done.contributors} providers`);
    out.json({ ok: true, command: 'aggregate provide', queryId: done.queryId, rows, contributors: done.contributors });
    return 0;
  } finally {
    await t.close();
  }
}

/**
 * Entry point of `dataport aggregate`.
 *
 * @example
 * ```ts
 * process.exitCode = await run(['serve', '--listen', '127.0.0.1:7400', '--providers', '3']);
 * ```
 */
export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'serve':
      return serve(rest);
    case 'analyst':
      return analystCommand(rest);
    case 'provide':
      return provideCommand(rest);
    case undefined:
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return sub === undefined ? 2 : 0;
    default:
      throw new InputError(`unknown subcommand '${sub}' (serve, analyst or provide; see 'dataport aggregate --help')`);
  }
}

