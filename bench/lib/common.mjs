// Shared helpers for the benchmarks: paths into the compiled server, child processes, statistics.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = resolve(BENCH_DIR, '..');
export const SERVER_DIST = join(ROOT, 'server', 'dist');

/** Resolves modules the way the compiled server does (fastify lives in server/node_modules). */
export const serverRequire = createRequire(join(SERVER_DIST, 'app.js'));

export function requireDist(relative) {
  try {
    return serverRequire(join(SERVER_DIST, relative));
  } catch (error) {
    if (error.code === 'MODULE_NOT_FOUND') {
      throw new Error(`${relative} is missing from server/dist: build first (npm run build): ${error.message}`);
    }
    throw error;
  }
}

export function makeTempDir(prefix) {
  return mkdtempSync(join(os.tmpdir(), `herald-bench-${prefix}-`));
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

/** Integer from the environment, for the knobs documented in bench/README.md. */
export function envInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return value;
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export const fmt = (n, digits = 0) =>
  Number(n).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export function machineLine() {
  const cpus = os.cpus();
  return `${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown'}), node ${process.version}, ${os.platform()} ${os.release()}, ${new Date().toISOString()}, load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
}

/** Prints rows of cells as an aligned plain-text table. */
export function printTable(header, rows) {
  const all = [header, ...rows].map((row) => row.map(String));
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i].length)));
  const line = (row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  console.log(line(all[0]));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of all.slice(1)) console.log(line(row));
}

/**
 * Runs `script` in a fresh Node process and talks to it over IPC. BENCH_CPU_PROF=1 adds --cpu-prof
 * (profiles land in bench/profiles/).
 */
export function startChild(script, args = [], { profileName } = {}) {
  const execArgv = [];
  if (process.env.BENCH_CPU_PROF === '1' && profileName) {
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${join(BENCH_DIR, 'profiles')}`, `--cpu-prof-name=${profileName}-${Date.now()}.cpuprofile`);
  }
  const child = fork(script, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = [];
  const exited = new Promise((resolveExit) => child.once('exit', (code, signal) => resolveExit({ code, signal })));
  child.on('message', (message) => {
    const index = waiting.findIndex((w) => w.type === message.type);
    if (index >= 0) waiting.splice(index, 1)[0].resolve(message);
  });
  const next = (type) =>
    new Promise((resolveMessage, reject) => {
      waiting.push({ type, resolve: resolveMessage });
      exited.then(({ code, signal }) => reject(new Error(`${script} exited (code ${code}, signal ${signal}) before sending "${type}"`)));
    });
  return {
    child,
    next,
    send: (message) => child.send(message),
    /** Asks the child to finish cleanly and waits for it to exit. */
    async stop() {
      if (child.exitCode !== null) return;
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
