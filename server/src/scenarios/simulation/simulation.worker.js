// @ts-check
/**
 * Entry point of a simulation's worker thread (the code is simulation-thread.ts). Built, the
 * compiled file sits next to this one; run from the sources (jest), the TypeScript is compiled on
 * load (shared/typescript-on-load.js).
 */
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

if (!existsSync(join(__dirname, 'simulation-thread.js'))) require('../../shared/typescript-on-load').compileTypeScriptOnLoad();
require('./simulation-thread');
