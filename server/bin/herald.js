#!/usr/bin/env node
// Committed shim, so `npx herald` works right after `npm install` links it (the compiled CLI is
// in dist/ once `npm run build` has run).
const { buildCli } = require('../dist/cli/main.js');

buildCli()
  .parseAsync(process.argv)
  .catch((error) => {
    process.stderr.write(`herald: ${error.message}\n`);
    process.exitCode = 1;
  });
