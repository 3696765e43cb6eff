#!/usr/bin/env node
// Committed shim, so `npx herald` works right after `npm install` links it (the compiled CLI is
// in dist/ once `npm run build` has run).
const { missingNodeFlags } = require('./node-flags');

// Flags given in NODE_OPTIONS count as given.
const missing = missingNodeFlags([...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]);
if (missing.length > 0 && process.env.HERALD_NODE_FLAGS !== 'off') {
  // V8 sizes the young generation when the process starts (v8.setFlagsFromString comes too late),
  // so the CLI runs itself again with the flags (see node-flags.js).
  const { spawn } = require('node:child_process');
  const child = spawn(process.execPath, [...missing, ...process.execArgv, __filename, ...process.argv.slice(2)], { stdio: 'inherit' });
  // A terminal's Ctrl-C reaches both processes; a signal sent to this one alone is passed on.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('error', (error) => {
    process.stderr.write(`herald: ${error.message}\n`);
    process.exitCode = 1;
  });
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? 128 + (require('node:os').constants.signals[signal] ?? 0);
  });
} else {
  const { buildCli } = require('../dist/cli/main.js');

  buildCli()
    .parseAsync(process.argv)
    .catch((error) => {
      process.stderr.write(`herald: ${error.message}\n`);
      process.exitCode = 1;
    });
}
