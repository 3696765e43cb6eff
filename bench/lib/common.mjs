// Shared helpers for the benchmarks: paths into the compiled server, child processes, statistics.
import { fork, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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

/**
 * Each thread of this process now, by thread id (Linux's `/proc/self/task`; an empty map elsewhere):
 * its name, CPU time in µs (user + system, clock ticks of 10 ms) and minor page faults. Worker threads
 * are all named "node", so they are told apart by id; the main thread's id is the pid.
 */
export function threadTimes() {
  const threads = new Map();
  let tids = [];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return threads;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // Fields after the command name, which is in parentheses and may contain spaces.
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      threads.set(tid, { name: stat.slice(stat.indexOf('(') + 1, close), micros: (Number(fields[11]) + Number(fields[12])) * 10_000, minorFaults: Number(fields[7]) });
    } catch {
      // The thread ended meanwhile.
    }
  }
  return threads;
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
 * (profiles land in bench/profiles/) unless the child profiles itself (`wholeProcess: false`);
 * `nodeFlags` are added to the child's Node flags.
 */
export function startChild(script, args = [], { profileName, wholeProcess = true, nodeFlags = [] } = {}) {
  // Fastify warns (FSTWRN004) that Herald replaces an error handler; it would repeat on every start.
  // The young generation's largest size is the one `npm start` gives Herald (docs/deployment.md),
  // for baselines and Herald alike. Its starting size (`--min-semi-space-size`, also in `npm start`)
  // is left to the benchmarks that need it (bench:send, for the SMTP thread), through `nodeFlags`.
  const execArgv = ['--disable-warning=FSTWRN004', '--max-semi-space-size=64', ...nodeFlags];
  if (process.env.BENCH_CPU_PROF === '1' && profileName && wholeProcess) {
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${join(BENCH_DIR, 'profiles')}`, `--cpu-prof-name=${profileName}-${Date.now()}.cpuprofile`);
  }
  const child = fork(script, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = [];
  const exited = new Promise((onExited) => child.once('exit', (code, signal) => onExited({ code, signal })));
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

/** Ratios are shown rounded down, so a printed 0.70 always means the 0.7 goal was reached. */
export const ratioText = (ratio) => (Math.floor(ratio * 100) / 100).toFixed(2);

/**
 * Benchmark scripts (bench/<name>.mjs) that started before this process, as `pid command` lines.
 * Only older ones count, so two benchmarks started close together do not wait for each other.
 */
export function otherBenchmarkProcesses() {
  const found = spawnSync('pgrep', ['-af', 'bench/[a-z-]+\\.mjs'], { encoding: 'utf8' });
  const ownAge = process.uptime();
  // A wrapper that started this script (`timeout 600 node bench/x.mjs`, `bash -c '...'`) is older and
  // names it, but it is not another benchmark: without this the script would wait for itself.
  const ancestors = ancestorPids();
  return (found.stdout ?? '')
    .split('\n')
    .filter((line) => line.trim() !== '' && !/profile-top|accept-check|pgrep/.test(line))
    .filter((line) => {
      const pid = Number(line.split(' ')[0]);
      if (pid === process.pid || ancestors.has(pid)) return false;
      const age = Number(spawnSync('ps', ['-o', 'etimes=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim());
      return Number.isFinite(age) && age > ownAge;
    });
}

/** The pids of this process's parent, its parent, and so on (Linux /proc; empty where there is none). */
function ancestorPids() {
  const pids = new Set();
  let pid = process.ppid;
  while (pid > 1 && !pids.has(pid)) {
    pids.add(pid);
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ...", and comm may contain spaces or parentheses.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      break;
    }
  }
  return pids;
}

/**
 * Waits (up to `maxMinutes`) while an older benchmark runs, since two benchmarks on a 2-core machine
 * distort each other's figures. BENCH_NO_WAIT=1 skips the wait.
 */
export async function waitForOtherBenchmarks({ maxMinutes = 10 } = {}) {
  if (process.env.BENCH_NO_WAIT === '1') return;
  const deadline = Date.now() + maxMinutes * 60_000;
  for (let others = otherBenchmarkProcesses(); others.length > 0; others = otherBenchmarkProcesses()) {
    if (Date.now() > deadline) {
      console.log(`WARNING: other benchmarks still running after ${maxMinutes} min; measuring anyway:\n  ${others.join('\n  ')}`);
      return;
    }
    console.log(`waiting for other benchmarks to finish (checking every 15 s):\n  ${others.join('\n  ')}`);
    await new Promise((resolve) => setTimeout(resolve, 15_000));
  }
}

/** The commit measured, and whether the working tree had uncommitted changes to the server or projections. */
export function codeLine() {
  const git = (...args) => spawnSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' }).stdout?.trim() ?? '';
  const head = git('rev-parse', '--short', 'HEAD') || 'unknown';
  const dirty = git('status', '--porcelain', '--', 'server/src', 'projections/src') !== '';
  return `code ${head}${dirty ? ' + uncommitted changes in server/src or projections/src' : ''}`;
}
