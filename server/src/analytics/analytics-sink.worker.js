// @ts-check
/**
 * Entry point of the analytics sink's worker thread (the code is analytics-sink-thread.ts). Built,
 * the compiled file sits next to this one. Run from the sources (jest, which does not build), the
 * TypeScript is compiled on load with swc, as jest does, and `@herald/projections` resolves to its
 * sources as in jest's moduleNameMapper.
 */
'use strict';
const { existsSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

if (!existsSync(join(__dirname, 'analytics-sink-thread.js'))) compileTypeScriptOnLoad();
require('./analytics-sink-thread');

function compileTypeScriptOnLoad() {
  const Module = /** @type {any} */ (require('node:module'));
  const swc = require('@swc/core');
  const projections = join(__dirname, '..', '..', '..', 'projections', 'src', 'index.ts');
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (/** @type {string} */ request, /** @type {any[]} */ ...rest) {
    return resolve.call(this, request === '@herald/projections' ? projections : request, ...rest);
  };
  Module._extensions['.ts'] = function (/** @type {any} */ module, /** @type {string} */ filename) {
    const { code } = swc.transformSync(readFileSync(filename, 'utf8'), {
      filename,
      jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
      module: { type: 'commonjs' },
      sourceMaps: 'inline',
    });
    module._compile(code, filename);
  };
}
