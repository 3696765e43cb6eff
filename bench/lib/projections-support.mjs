// Helpers of the projection benchmarks: waiting for a quiet machine, in-process CPU profiles of one
// phase, percentiles.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { BENCH_DIR, waitForOtherBenchmarks } from './common.mjs';

/**
 * Waits (polling, at most `maxMinutes`) while an older benchmark script runs, so figures are not
 * distorted (common.mjs's rule: only older ones count, so two scripts never wait for each other).
 */
export async function waitForQuietMachine({ maxMinutes = 20 } = {}) {
  await waitForOtherBenchmarks({ maxMinutes });
}

/** Starts a V8 CPU profile of this process; `stop()` writes it to bench/profiles/ and returns the path. */
export async function startProfile(name) {
  const session = new Session();
  session.connect();
  const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 200 });
  await post('Profiler.start');
  return {
    async stop() {
      const { profile } = await post('Profiler.stop');
      session.disconnect();
      const dir = join(BENCH_DIR, 'profiles');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${name}-${Date.now()}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      return file;
    },
  };
}

/**
 * Starts V8's sampling heap profiler in this process. `stop()` writes bench/profiles/<name>-<ts>.heapprofile
 * (open it in Chrome DevTools, or summarise with `node bench/heap-top.mjs`). `live`: only the sampled
 * objects still alive when it stops (what the process holds, e.g. requests in flight); `promoted`:
 * those that outlived the young generation, dead or alive (what each scavenge copies into the old
 * generation, plus the young objects still alive at the stop); otherwise every sampled allocation
 * since the start, collected or not (what it allocates).
 */
export async function startHeapProfile(name, { live, promoted = false }) {
  const session = new Session();
  session.connect();
  const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
  await post('HeapProfiler.enable');
  await post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: !live,
    includeObjectsCollectedByMinorGC: !live && !promoted,
  });
  return {
    async stop() {
      // Dead objects not collected yet would count as live.
      if (live) await post('HeapProfiler.collectGarbage');
      const { profile } = await post('HeapProfiler.stopSampling');
      session.disconnect();
      const dir = join(BENCH_DIR, 'profiles');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${name}-${live ? 'live' : promoted ? 'promoted' : 'allocated'}-${Date.now()}.heapprofile`);
      writeFileSync(file, JSON.stringify(profile));
      return file;
    },
  };
}

/** Prints bench/profile-top.mjs's summary of a profile. */
export function printProfileTop(file, top = 20) {
  const result = spawnSync(process.execPath, [join(BENCH_DIR, 'profile-top.mjs'), file, String(top)], { encoding: 'utf8' });
  console.log(result.stdout || result.stderr);
}

/** Nearest-rank percentile of numbers. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export const goalText = (met) => (met ? 'met' : 'NOT MET');
