// Where the event loop is held (bench:scenarios with BENCH_SCENARIOS_TRACE=1): wraps chosen methods to
// time their synchronous part (exclusive of wrapped calls inside them), records V8's GC pauses, and
// notes every stretch in which a 1 ms timer probe could not run for longer than a threshold. A stretch
// is then attributed to the wrapped calls that ended inside it; the rest of it is "other" (promise
// continuations of async code, I/O callbacks, the bench's own load generator and reader).
import { PerformanceObserver, performance } from 'node:perf_hooks';

export function createLoopTrace({ stretchMs = 20 } = {}) {
  let on = false;
  /** Ended wrapped calls, in end order: [end, exclusive ms, label]. */
  const calls = [];
  const gcs = [];
  const stretches = [];
  const stack = [];
  const stats = new Map();
  const stat = (label) => {
    let s = stats.get(label);
    if (!s) stats.set(label, (s = { count: 0, total: 0, max: 0, durations: [] }));
    return s;
  };

  function wrap(target, method, label) {
    const original = target?.[method];
    if (typeof original !== 'function') return;
    target[method] = function traced(...args) {
      if (!on) return original.apply(this, args);
      const name = typeof label === 'function' ? label(...args) : label;
      const frame = { start: performance.now(), children: 0 };
      stack.push(frame);
      try {
        return original.apply(this, args);
      } finally {
        stack.pop();
        const end = performance.now();
        const duration = end - frame.start;
        const exclusive = duration - frame.children;
        if (stack.length > 0) stack[stack.length - 1].children += duration;
        calls.push([end, exclusive, name]);
        const s = stat(name);
        s.count += 1;
        s.total += exclusive;
        if (exclusive > s.max) s.max = exclusive;
        s.durations.push(exclusive);
      }
    };
  }

  const gcKinds = { 1: 'gc:scavenge', 2: 'gc:mark-compact', 4: 'gc:incremental', 8: 'gc:weak-callbacks' };
  const observer = new PerformanceObserver((list) => {
    if (!on) return;
    for (const entry of list.getEntries()) {
      const kind = gcKinds[entry.detail?.kind] ?? `gc:${entry.detail?.kind}`;
      gcs.push([entry.startTime + entry.duration, entry.duration, kind]);
    }
  });

  let probe;
  let last = 0;
  const tick = () => {
    const now = performance.now();
    if (now - last > stretchMs) stretches.push([last, now]);
    last = now;
    probe = setTimeout(tick, 1);
  };

  return {
    wrap,
    start() {
      on = true;
      observer.observe({ entryTypes: ['gc'] });
      last = performance.now();
      probe = setTimeout(tick, 1);
    },
    stop() {
      on = false;
      observer.disconnect();
      clearTimeout(probe);
    },
    /** Per label: calls, total and longest exclusive time; GC pauses; the long stretches and what filled them. */
    report(windowMs) {
      const percentile = (values, p) => {
        if (values.length === 0) return 0;
        const sorted = [...values].sort((a, b) => a - b);
        return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
      };
      const labels = [...stats].map(([label, s]) => ({
        label,
        count: s.count,
        totalMs: s.total,
        share: s.total / windowMs,
        p99: percentile(s.durations, 99),
        max: s.max,
      }));
      labels.sort((a, b) => b.totalMs - a.totalMs);
      const gcByKind = new Map();
      for (const [, duration, kind] of gcs) {
        let g = gcByKind.get(kind);
        if (!g) gcByKind.set(kind, (g = []));
        g.push(duration);
      }
      const gc = [...gcByKind].map(([kind, durations]) => ({
        kind,
        count: durations.length,
        totalMs: durations.reduce((a, b) => a + b, 0),
        p50: percentile(durations, 50),
        p99: percentile(durations, 99),
        max: Math.max(...durations),
      }));
      // Attribute each stretch: wrapped calls and GC pauses that ended inside it.
      const all = [...calls, ...gcs].sort((a, b) => a[0] - b[0]);
      let i = 0;
      const inStretches = new Map();
      const longest = [];
      let stretchTotal = 0;
      for (const [from, to] of stretches) {
        while (i < all.length && all[i][0] <= from) i++;
        const parts = new Map();
        let known = 0;
        while (i < all.length && all[i][0] <= to) {
          const [, ms, label] = all[i++];
          parts.set(label, (parts.get(label) ?? 0) + ms);
          if (!label.startsWith('gc:')) known += ms;
        }
        const length = to - from;
        stretchTotal += length;
        parts.set('other', Math.max(0, length - known - (parts.get('gc:scavenge') ?? 0) - (parts.get('gc:mark-compact') ?? 0)));
        for (const [label, ms] of parts) inStretches.set(label, (inStretches.get(label) ?? 0) + ms);
        longest.push({ length, parts: [...parts].sort((a, b) => b[1] - a[1]).filter(([, ms]) => ms >= 1) });
      }
      longest.sort((a, b) => b.length - a.length);
      return {
        labels,
        gc,
        stretches: {
          thresholdMs: stretchMs,
          count: stretches.length,
          totalMs: stretchTotal,
          p50: percentile(stretches.map(([a, b]) => b - a), 50),
          max: longest[0]?.length ?? 0,
          byLabel: [...inStretches].sort((a, b) => b[1] - a[1]),
          longest: longest.slice(0, 6),
        },
      };
    },
  };
}

/** Prints a trace report (scenarios-latency.mjs sends it to the parent as lines). */
export function traceLines(report, windowMs) {
  const f = (n) => n.toFixed(1);
  const lines = [`loop trace over ${f(windowMs / 1000)} s: wrapped calls (exclusive synchronous time)`];
  for (const l of report.labels.slice(0, 24)) {
    lines.push(`  ${l.label.padEnd(34)} ${String(l.count).padStart(7)} calls ${f(l.totalMs).padStart(8)} ms (${(l.share * 100).toFixed(1)}%)  p99 ${f(l.p99)} ms  max ${f(l.max)} ms`);
  }
  for (const g of report.gc) {
    lines.push(`  ${g.kind.padEnd(34)} ${String(g.count).padStart(7)} pauses ${f(g.totalMs).padStart(7)} ms (${((g.totalMs / windowMs) * 100).toFixed(1)}%)  p50 ${f(g.p50)}  p99 ${f(g.p99)}  max ${f(g.max)} ms`);
  }
  const s = report.stretches;
  lines.push(`  stretches > ${s.thresholdMs} ms without a 1 ms timer: ${s.count}, ${f(s.totalMs)} ms in all, p50 ${f(s.p50)} ms, max ${f(s.max)} ms; filled by:`);
  lines.push(`    ${s.byLabel.filter(([, ms]) => ms >= 1).slice(0, 14).map(([label, ms]) => `${label} ${f(ms)}`).join(', ')}`);
  for (const one of s.longest) lines.push(`    ${f(one.length)} ms: ${one.parts.map(([label, ms]) => `${label} ${f(ms)}`).join(', ')}`);
  return lines;
}
