// node bench/profile-top.mjs <file.cpuprofile> [n] — the top self-time functions and packages of a
// V8 CPU profile (as written by BENCH_CPU_PROF=1), plus inclusive time of Herald's own functions.
import { readFileSync } from 'node:fs';

// --under NAME: also break down the self time spent below functions called NAME.
const args = process.argv.slice(2);
const underIndex = args.indexOf('--under');
const under = underIndex >= 0 ? args.splice(underIndex, 2)[1] : undefined;
const [file, top = '25'] = args;
if (!file) {
  console.error('usage: node bench/profile-top.mjs <file.cpuprofile> [n]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

// Time per sample = the gap to the next one.
const selfMicros = new Map();
const deltas = profile.timeDeltas;
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = deltas[i + 1] ?? 0;
  selfMicros.set(profile.samples[i], (selfMicros.get(profile.samples[i]) ?? 0) + dt);
  total += dt;
}

const where = (frame) => {
  const url = frame.url.replace(/^file:\/\//, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.includes('/server/dist/')) return `herald:${url.split('/server/dist/')[1]}`;
  if (url.includes('/projections/')) return 'herald-projections';
  if (url.startsWith('node:')) return url;
  return url || `(${frame.functionName || 'native'})`;
};
const label = (frame) => `${frame.functionName || '(anonymous)'}  ${where(frame)}:${frame.lineNumber + 1}`;

const byFunction = new Map();
const byPlace = new Map();
const inclusive = new Map();
const byUnder = new Map();
for (const [id, micros] of selfMicros) {
  const frame = nodes.get(id).callFrame;
  byFunction.set(label(frame), (byFunction.get(label(frame)) ?? 0) + micros);
  const place = where(frame).replace(/:.*$/, '').replace(/^herald:.*/, (h) => h);
  byPlace.set(place, (byPlace.get(place) ?? 0) + micros);
  if (under) {
    let n = id;
    while (n !== undefined && nodes.get(n).callFrame.functionName !== under) n = parent.get(n);
    if (n !== undefined) byUnder.set(label(frame), (byUnder.get(label(frame)) ?? 0) + micros);
  }
  // Inclusive time, counted once per stack for each Herald function on it.
  const seen = new Set();
  for (let n = id; n !== undefined; n = parent.get(n)) {
    const f = nodes.get(n).callFrame;
    if (!f.url.includes('/server/dist/') && !f.url.includes('/projections/dist/')) continue;
    const key = label(f);
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + micros);
  }
}

const show = (title, map, n) => {
  console.log(`\n${title}`);
  for (const [key, micros] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    console.log(`${((100 * micros) / total).toFixed(1).padStart(5)}%  ${(micros / 1000).toFixed(0).padStart(6)} ms  ${key}`);
  }
};
console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled`);
show('self time by function', byFunction, Number(top));
show('self time by package / file', byPlace, Number(top));
show('inclusive time of Herald functions', inclusive, Number(top));
if (under) show(`self time below ${under}`, byUnder, Number(top));
