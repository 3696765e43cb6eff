import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { userStream } from '@herald/projections';
import { newEvent } from '../event-store/event-store.contract';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { SegmentCatalog } from '../segments/segment-catalog';
import { systemClock } from '../shared/clock';
import { openStateDb } from '../state/state-db';
import { EventHandlingError, park } from '../projection-runner/parked-events';

const run = promisify(execFile);

/** Runs the CLI with a terminal as stdout and stderr (util-linux `script` gives it a pseudo-terminal), as a person at a shell does. */
function runOnTerminal(args: string[]) {
  const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;
  return run('script', ['-q', '-e', '-c', [process.execPath, ...args].map(quote).join(' '), '/dev/null']);
}

const bin = resolve(__dirname, '../../dist/cli/main.js');
let dataDir: string;

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'herald-rebuild-cli-'));
  const store = new SqliteEventStore({ path: join(dataDir, 'events.sqlite') });
  await new SegmentCatalog(store, systemClock).define('default', { id: 'buyers', name: 'Buyers', where: { performed: 'Order Completed' } });
  for (const user of ['a', 'b', 'c']) {
    const event = newEvent('Tracked', { event: user === 'c' ? 'Product Viewed' : 'Order Completed', properties: {} });
    event.metadata.workspace = 'default';
    await store.append(userStream('default', user), [event]);
  }
  await store.close();
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

describe('herald projections rebuild', () => {
  it('rebuilds every projection from the log and reports its rate', async () => {
    const { stderr } = await run(process.execPath, [bin, '--data-dir', dataDir, 'projections', 'rebuild']);
    // One pass over the log for all of them.
    expect(stderr).toMatch(/Rebuilt identity, segments, scenarios: \d+ events in [\d.]+ s \(\d+ events\/s\)/);
    const db = openStateDb(join(dataDir, 'state.sqlite'));
    const members = db.prepare("SELECT person FROM segment_members WHERE segment_id = 'buyers' ORDER BY person").all();
    db.close();
    expect(members).toEqual([{ person: 'user:a' }, { person: 'user:b' }]);
  });

  it('rebuilds one projection by name and rejects unknown names', async () => {
    const { stderr } = await run(process.execPath, [bin, '--data-dir', dataDir, 'projections', 'rebuild', 'segments']);
    expect(stderr).toMatch(/Rebuilt segments: \d+ events/);
    // identity reads only IdentityLinked events (a filtered read) and still reaches the head.
    const identity = await run(process.execPath, [bin, '--data-dir', dataDir, 'projections', 'rebuild', 'identity']);
    expect(identity.stderr).toMatch(/Rebuilt identity: 4 events/);
    const db = openStateDb(join(dataDir, 'state.sqlite'));
    const checkpoint = db.prepare("SELECT position FROM checkpoints WHERE name = 'identity'").get();
    db.close();
    expect(checkpoint).toEqual({ position: 4 });
    await expect(run(process.execPath, [bin, '--data-dir', dataDir, 'projections', 'rebuild', 'nope'])).rejects.toMatchObject({
      stderr: expect.stringContaining('Unknown projection nope'),
    });
  });

  it("rebuilds the scenarios' due-timer index from the log: only the timers still waiting", async () => {
    const store = new SqliteEventStore({ path: join(dataDir, 'events.sqlite') });
    const at = (iso: string) => ({ workspace: 'default', occurredAt: iso, receivedAt: iso, schemaVersion: 1 });
    const timer = (enrollmentId: string, dueAt: string) => ({
      id: randomUUID(),
      type: 'TimerScheduled',
      data: { timerId: `${enrollmentId}/wait/1`, enrollmentId, scenarioId: 'drip', stepId: 'wait', purpose: 'scenario', dueAt },
      metadata: at('2026-03-01T10:00:00.000Z'),
    });
    await store.append(userStream('default', 'a'), [
      timer('waiting', '2026-03-08T10:00:00.000Z'),
      timer('fired', '2026-03-02T10:00:00.000Z'),
      { id: randomUUID(), type: 'TimerFired', data: { timerId: 'fired/wait/1', enrollmentId: 'fired', scenarioId: 'drip', stepId: 'wait', purpose: 'scenario', dueAt: '2026-03-02T10:00:00.000Z' }, metadata: at('2026-03-02T10:00:00.000Z') },
      timer('exited', '2026-03-09T10:00:00.000Z'),
      { id: randomUUID(), type: 'EnrollmentExited', data: { enrollmentId: 'exited', scenarioId: 'drip', reason: 'exit_on' }, metadata: at('2026-03-03T10:00:00.000Z') },
    ]);
    await store.close();
    const { stderr } = await run(process.execPath, [bin, '--data-dir', dataDir, 'projections', 'rebuild', 'scenarios']);
    expect(stderr).toMatch(/Rebuilt scenarios: \d+ events/);
    const db = openStateDb(join(dataDir, 'state.sqlite'));
    const timers = db.prepare('SELECT workspace, enrollment_id, person, timer_id, due_at FROM scenario_timers').all();
    db.close();
    expect(timers).toEqual([{ workspace: 'default', enrollment_id: 'waiting', person: 'user:a', timer_id: 'waiting/wait/1', due_at: Date.parse('2026-03-08T10:00:00.000Z') }]);
  });

  it('runs, through the `herald` bin, with a young generation of up to 64 MB, and passes its exit code on', async () => {
    const herald = resolve(__dirname, '../../bin/herald.js');
    // Loaded into every Node process the command starts: each says which flags it runs with (its worker threads say nothing).
    const probe = join(dataDir, 'probe.js');
    writeFileSync(probe, "if (require('node:worker_threads').isMainThread) process.stderr.write(`node flags: ${JSON.stringify(process.execArgv)}\\n`);");
    const env = { ...process.env, NODE_OPTIONS: `--require ${probe}` };
    const flagsOf = (stderr: string) => [...stderr.matchAll(/^node flags: (.*)$/gm)].map((match) => JSON.parse(match[1]) as string[]);

    const { stderr } = await run(process.execPath, [herald, '--data-dir', dataDir, 'projections', 'rebuild'], { env });
    expect(stderr).toMatch(/Rebuilt identity, segments, scenarios: \d+ events/);
    expect(flagsOf(stderr)).toEqual([[], ['--max-semi-space-size=64']]);
    // Flags given by the caller win, and nothing runs twice.
    const own = await run(process.execPath, ['--max-semi-space-size=32', herald, '--data-dir', dataDir, 'projections', 'rebuild'], { env });
    expect(flagsOf(own.stderr)).toEqual([['--max-semi-space-size=32']]);
    const off = await run(process.execPath, [herald, '--data-dir', dataDir, 'projections', 'rebuild'], { env: { ...env, HERALD_NODE_FLAGS: 'off' } });
    expect(flagsOf(off.stderr)).toEqual([[]]);
    await expect(run(process.execPath, [herald, '--data-dir', dataDir, 'projections', 'rebuild', 'nope'], { env })).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('Unknown projection nope'),
    });
  });

  it('draws a progress bar when stderr is a terminal', async () => {
    const { stdout } = await runOnTerminal([bin, '--data-dir', dataDir, 'projections', 'rebuild']);
    expect(stdout).toMatch(/Rebuilding identity, segments, scenarios \[=+\] 100% \| \d+\/\d+/);
    expect(stdout).toMatch(/Rebuilt identity, segments, scenarios: \d+ events/);
    const piped = await run(process.execPath, [bin, '--data-dir', dataDir, 'projections', 'rebuild']);
    expect(piped.stderr).not.toContain('Rebuilding');
  });

  it('refuses to run while a server holds the data folder', async () => {
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)']);
    try {
      writeFileSync(join(dataDir, 'herald.pid'), String(holder.pid));
      await expect(run(process.execPath, [bin, '--data-dir', dataDir, 'projections', 'rebuild'])).rejects.toMatchObject({
        stderr: expect.stringContaining(`process ${holder.pid}) is running`),
      });
    } finally {
      holder.kill();
    }
  });
});

describe('herald projections parked', () => {
  it('lists the parked events, as text or JSON lines, beside a running server', async () => {
    const none = await run(process.execPath, [bin, '--data-dir', dataDir, 'projections', 'parked']);
    expect(none.stdout).toBe('No parked events.\n');
    const store = new SqliteEventStore({ path: join(dataDir, 'events.sqlite') });
    const db = openStateDb(join(dataDir, 'state.sqlite'));
    try {
      const [event] = await store.readStream(userStream('default', 'a'));
      await park(store, db, new EventHandlingError(event, 'segments', new TypeError('boom')), 5, new Date('2026-11-27T10:00:00Z'));
      // The server's connection stays open meanwhile.
      const text = await run(process.execPath, [bin, '--data-dir', dataDir, 'projections', 'parked']);
      expect(text.stdout).toBe(
        `2026-11-27T10:00:00.000Z  segments  position ${event.position}  Tracked ${event.id} (user-default:a), 5 attempts: boom\n` +
          'After a fix, replay them on the running server: POST /api/operations/parked/<projection>/replay (docs/deployment.md).\n',
      );
      const json = await run(process.execPath, [bin, '--data-dir', dataDir, 'projections', 'parked', '--json']);
      expect(json.stdout.trim().split('\n').map((line) => JSON.parse(line))).toEqual([
        { projection: 'segments', position: event.position, event_id: event.id, stream: 'user-default:a', type: 'Tracked', attempts: 5, error: 'boom', parked_at: '2026-11-27T10:00:00.000Z' },
      ]);
    } finally {
      db.close();
      await store.close();
    }
  });
});
