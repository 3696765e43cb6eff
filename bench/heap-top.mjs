// node bench/heap-top.mjs <file.heapprofile> [n] — the allocation sites of a V8 sampling heap profile
// (as written by BENCH_HEAP_PROF=live|allocated): bytes by function (self), by function with its caller
// chain of Herald frames, and by package.
import { readFileSync } from 'node:fs';

const [file, top = '30'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/heap-top.mjs <file.heapprofile> [n]');
  process.exitCode = 2;
} else {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const bySite = new Map();
  const byPackage = new Map();
  const byHerald = new Map();
  let total = 0;
  const where = (frame) => {
    const url = frame.url.replace(/^file:\/\//, '');
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? (url.includes('/server/dist/') ? 'herald' : url.startsWith('node:') ? 'node' : url ? 'other' : '(native)');
    const short = url.replace(/.*\/(server\/dist|node_modules)\//, '$1/');
    return { pkg, label: `${frame.functionName || '(anonymous)'} ${short}:${frame.lineNumber + 1}` };
  };
  const add = (map, key, bytes) => map.set(key, (map.get(key) ?? 0) + bytes);
  const visit = (node, heraldChain) => {
    const { pkg, label } = where(node.callFrame);
    const chain = pkg === 'herald' ? [...heraldChain, label.split(' ')[0]].slice(-3) : heraldChain;
    const bytes = node.selfSize;
    if (bytes > 0) {
      total += bytes;
      add(bySite, label, bytes);
      add(byPackage, pkg, bytes);
      add(byHerald, `${chain.join(' < ') || '(no Herald frame)'}  →  ${label}`, bytes);
    }
    for (const child of node.children ?? []) visit(child, chain);
  };
  visit(profile.head, []);
  const show = (title, map, n) => {
    console.log(`\n${title}`);
    for (const [key, bytes] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
      console.log(`${((100 * bytes) / total).toFixed(1).padStart(5)}%  ${(bytes / 1048576).toFixed(1).padStart(7)} MB  ${key}`);
    }
  };
  console.log(`${file}: ${(total / 1048576).toFixed(1)} MB sampled`);
  show('by package', byPackage, 12);
  show('by allocation site', bySite, Number(top));
  show('by site under the last Herald frames', byHerald, Number(top));
}
