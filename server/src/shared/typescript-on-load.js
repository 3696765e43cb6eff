// @ts-check
/**
 * For a worker thread's entry file run from the sources (jest, which does not build): compiles
 * TypeScript on load with swc, as jest does, and resolves `@herald/projections` to its sources as
 * jest's moduleNameMapper does. Built, the compiled files sit next to the entries and this is not used.
 */
'use strict';
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

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

module.exports = { compileTypeScriptOnLoad };
