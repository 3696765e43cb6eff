// @ts-check
/**
 * Entry point of the analytics sink's worker thread (the code is analytics-sink-thread.ts). Built,
 * the compiled file sits next to this one; run from the sources (jest), the TypeScript is compiled
 * on load (shared/typescript-on-load.js).
 */
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

if (!existsSync(join(__dirname, 'analytics-sink-thread.js'))) require('../shared/typescript-on-load').compileTypeScriptOnLoad();
require('./analytics-sink-thread');
