#!/usr/bin/env node
// Command line entry point of the calmfetch reference server.
//
//   node www/server/cli.mjs [--port 8787] [--static www/dist] [knob flags]
//
// Knob flags (all optional; see README.md):
//   --latency-ms N  --db-pool N  --auth-query-ms N  --data-query-ms N
//   --queue-timeout-ms N  --batch-item-concurrency N  --batch-max-items N
//   --socket-delay-ms N  --socket-flap-ms N  --fail-rate F  --no-batch

import { parseArgs } from 'node:util';
import { startServer } from './server.mjs';

// flag name -> knob name (numeric knobs)
const NUMERIC_FLAGS = {
  'latency-ms': 'latencyMs',
  'db-pool': 'dbPool',
  'auth-query-ms': 'authQueryMs',
  'data-query-ms': 'dataQueryMs',
  'queue-timeout-ms': 'queueTimeoutMs',
  'batch-item-concurrency': 'batchItemConcurrency',
  'batch-max-items': 'batchMaxItems',
  'socket-delay-ms': 'socketDelayMs',
  'socket-flap-ms': 'socketFlapMs',
  'fail-rate': 'failRate',
};

const USAGE = `usage: node www/server/cli.mjs [--port N] [--static DIR] [--quiet]
  ${Object.keys(NUMERIC_FLAGS).map((f) => `--${f} N`).join('  ')}  --no-batch`;

function fail(message) {
  console.error(`calmfetch server: ${message}\n${USAGE}`);
  process.exit(2);
}

let values;
try {
  const options = {
    port: { type: 'string' },
    static: { type: 'string' },
    'no-batch': { type: 'boolean' },
    quiet: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  };
  for (const flag of Object.keys(NUMERIC_FLAGS)) options[flag] = { type: 'string' };
  ({ values } = parseArgs({ options, strict: true }));
} catch (err) {
  fail(err.message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const toNumber = (flag, raw) => {
  const n = Number(raw);
  if (raw === '' || !Number.isFinite(n)) fail(`--${flag} expects a number, got "${raw}"`);
  return n;
};

const knobs = {};
for (const [flag, knob] of Object.entries(NUMERIC_FLAGS)) {
  if (values[flag] !== undefined) knobs[knob] = toNumber(flag, values[flag]);
}
if (values['no-batch']) knobs.batchEnabled = false;
const port = values.port === undefined ? 8787 : toNumber('port', values.port);

let server;
try {
  server = await startServer({ port, staticDir: values.static, knobs });
} catch (err) {
  fail(err.message);
}
console.log(`calmfetch reference server on ${server.url}`);
if (!values.quiet && Object.keys(knobs).length > 0) console.log(`knobs: ${JSON.stringify(knobs)}`);

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  if (!values.quiet) console.log(`\n${signal}: closing`);
  await server.close();
  process.exit(0);
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
