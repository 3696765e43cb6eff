/**
 * `herald simulate` against a real SQLite log: a week of abandoned-cart history written as the
 * ingestion API and the live engine write it, the example scenario simulated over it as a draft,
 * and every number of the report checked against what was worked out by hand below.
 */
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gbHash, parseScenarioDefinition, type MessagingSettings } from '@herald/projections';
import { parse as parseYaml } from 'yaml';
import type { NewEvent } from '../event-store/event-store.port';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { ScenarioSimulations } from '../scenarios/simulation/scenario-simulations';
import { type SimulationReport, simulateScenario } from '../scenarios/simulation/simulate-scenario';
import { TestClock } from '../shared/clock';

const run = promisify(execFile);
const bin = resolve(__dirname, '../../dist/cli/main.js');
const scenarioFile = resolve(__dirname, '../../../examples/scenarios/abandoned-cart.yaml');

/**
 * Buckets of `gbHash('abandoned-cart:reminder', id, 2)`. With `holdout: 10` and 50/50 weights:
 * [0, 0.1) holdout, [0.1, 0.55) plain, [0.55, 1) discount.
 */
const BUCKETS: Record<string, number> = {
  pia: 0.0177, // holdout
  eve: 0.1166, // plain
  tia: 0.2011, // plain
  dan: 0.3817, // plain
  ada: 0.8547, // discount
  bob: 0.6303, // discount
  cleo: 0.651, // discount
  hana: 0.9106, // discount
};

const SETTINGS_V1: MessagingSettings = {
  caps: [{ channel: 'email', max: 1, per: '1d' }],
  quietHours: { start: '22:00', end: '07:00' },
  timezone: 'UTC',
};

interface Written {
  stream: string;
  event: NewEvent;
}

function at(iso: string, workspace = 'default') {
  return { workspace, occurredAt: iso, receivedAt: iso, schemaVersion: 1 };
}

/** An event as ingestion writes it on the user's stream. */
function tracked(userId: string, event: string, iso: string, properties: Record<string, unknown> = {}, workspace = 'default'): Written {
  return {
    stream: `user-${workspace}:${userId}`,
    event: { id: randomUUID(), type: 'Tracked', data: { event, properties, userId }, metadata: at(iso, workspace) },
  };
}

function onUser(userId: string, type: string, data: unknown, iso: string, causationId?: string): Written {
  return { stream: `user-default:${userId}`, event: { id: randomUUID(), type, data, metadata: { ...at(iso), ...(causationId && { causationId }) } } };
}

/**
 * The history, in the order it was recorded. Window simulated: 2026-03-02 .. 2026-03-06 (to the
 * end of that day). What the draft does with it, worked out by hand (reminder = 1h after checkout):
 *
 * - pia (holdout): checkout 03-02 10:00; reminder held out 11:00; no order within 24h, so the SMS
 *   goes out 03-03 11:00 and the enrolment ends at `done`; her order at 12:00 is still a goal (72h).
 * - eve (plain): checkout 03-02 09:00, email 10:00, order 15:00: goal, exit_on. Her second checkout
 *   03-03 is within `reenter: after 7d`: no entry.
 * - tia (plain): checkout 03-02 21:30; the reminder at 22:30 is in quiet hours (22:00-07:00):
 *   deferred, queued 03-03 07:00; no order, SMS 03-04 07:00, exit at `done`.
 * - ada (discount): the live welcome series queued her an email 03-02 08:00 (in the log), so the
 *   reminder at 13:00 hits the email cap (1 per day): frequency_cap; SMS 03-03 13:00, exit.
 * - bob (discount): unsubscribed from email 03-01; reminder 03-03 11:00: unsubscribed; SMS
 *   03-04 11:00, exit.
 * - cleo (discount): checkout 03-04 10:00, email 11:00, order 18:00: goal, exit_on.
 * - dan (plain): a checkout 03-01 (before the window) enrols nobody; checkout 03-06 20:00, email
 *   21:00, still waiting for a purchase at the end of the window (timeout 03-07 21:00): running.
 * - hana: checkouts 03-01 and 03-07, both outside the window: never enrolled.
 * - zoe's checkout is in another workspace.
 */
function history(): Written[] {
  const welcomeCause = randomUUID();
  const welcomeEnrollment = `welcome-series/${welcomeCause}`;
  const welcomeTimer = `${welcomeEnrollment}/wait-2d/${welcomeCause}`;
  const queuedWelcome = randomUUID();
  const written: Written[] = [
    { stream: 'settings-default', event: { id: randomUUID(), type: 'MessagingSettingsUpdated', data: { settings: SETTINGS_V1, version: 1 }, metadata: at('2026-03-01T00:00:00.000Z') } },
    onUser('pia', 'Identified', { traits: { first_name: 'Pia' }, userId: 'pia' }, '2026-03-01T08:00:00.000Z'),
    tracked('hana', 'Checkout Started', '2026-03-01T09:00:00.000Z', { cart_id: 'h1' }),
    tracked('dan', 'Checkout Started', '2026-03-01T10:00:00.000Z', { cart_id: 'd1' }),
    onUser('bob', 'Unsubscribed', { channel: 'email' }, '2026-03-01T12:00:00.000Z'),
    // The live engine ran the welcome series for ada: its decisions are in her stream.
    { stream: 'user-default:ada', event: { id: welcomeCause, type: 'Tracked', data: { event: 'Signed Up', properties: {}, userId: 'ada' }, metadata: at('2026-03-02T08:00:00.000Z') } },
    onUser('ada', 'EnrollmentStarted', { enrollmentId: welcomeEnrollment, scenarioId: 'welcome-series', version: 1, person: 'user:ada', trigger: { eventId: welcomeCause, type: 'Tracked', event: 'Signed Up', properties: {} } }, '2026-03-02T08:00:00.000Z', welcomeCause),
    {
      stream: 'user-default:ada',
      event: {
        id: queuedWelcome,
        type: 'MessageQueued',
        data: { messageId: `${welcomeEnrollment}/welcome/0`, enrollmentId: welcomeEnrollment, scenarioId: 'welcome-series', stepId: 'welcome', channel: 'email', template: 'welcome-1', transactional: false, variables: { user: {}, event: {}, trigger: {} }, checks: { subscribed: true, caps: [], quietHours: 'outside', timezone: 'UTC' } },
        metadata: { ...at('2026-03-02T08:00:00.000Z'), causationId: welcomeCause },
      },
    },
    onUser('ada', 'StepCompleted', { enrollmentId: welcomeEnrollment, scenarioId: 'welcome-series', stepId: 'welcome', outcome: 'queued' }, '2026-03-02T08:00:00.000Z', welcomeCause),
    onUser('ada', 'TimerScheduled', { timerId: welcomeTimer, enrollmentId: welcomeEnrollment, scenarioId: 'welcome-series', stepId: 'wait-2d', purpose: 'wait', dueAt: '2026-03-04T08:00:00.000Z' }, '2026-03-02T08:00:00.000Z', welcomeCause),
    onUser('ada', 'MessageSent', { messageId: `${welcomeEnrollment}/welcome/0`, channel: 'email', provider: 'sandbox', providerMessageId: 'sandbox:1' }, '2026-03-02T08:00:00.000Z', queuedWelcome),
    tracked('eve', 'Checkout Started', '2026-03-02T09:00:00.000Z', { cart_id: 'e1' }),
    tracked('pia', 'Checkout Started', '2026-03-02T10:00:00.000Z', { cart_id: 'p1' }),
    tracked('ada', 'Checkout Started', '2026-03-02T12:00:00.000Z', { cart_id: 'a1' }),
    tracked('eve', 'Order Completed', '2026-03-02T15:00:00.000Z', { cart_id: 'e1', total: 40 }),
    tracked('tia', 'Checkout Started', '2026-03-02T21:30:00.000Z', { cart_id: 't1' }),
    tracked('eve', 'Checkout Started', '2026-03-03T09:00:00.000Z', { cart_id: 'e2' }),
    tracked('bob', 'Checkout Started', '2026-03-03T10:00:00.000Z', { cart_id: 'b1' }),
    tracked('zoe', 'Checkout Started', '2026-03-03T10:00:00.000Z', { cart_id: 'z1' }, 'other'),
    tracked('pia', 'Order Completed', '2026-03-03T12:00:00.000Z', { cart_id: 'p1', total: 25 }),
    // The welcome series' timer fires in the live engine; the draft must not act on it.
    onUser('ada', 'TimerFired', { purpose: 'scenario', timerId: welcomeTimer, enrollmentId: welcomeEnrollment, dueAt: '2026-03-04T08:00:00.000Z' }, '2026-03-04T08:00:00.000Z'),
    tracked('cleo', 'Checkout Started', '2026-03-04T10:00:00.000Z', { cart_id: 'c1' }),
    tracked('cleo', 'Order Completed', '2026-03-04T18:00:00.000Z', { cart_id: 'c1', total: 90 }),
    tracked('dan', 'Checkout Started', '2026-03-06T20:00:00.000Z', { cart_id: 'd2' }),
    tracked('hana', 'Checkout Started', '2026-03-07T09:00:00.000Z', { cart_id: 'h2' }),
    { stream: 'settings-default', event: { id: randomUUID(), type: 'MessagingSettingsUpdated', data: { settings: { caps: [] }, version: 2 }, metadata: at('2026-03-08T00:00:00.000Z') } },
    tracked('dan', 'Order Completed', '2026-03-08T09:00:00.000Z', { cart_id: 'd2', total: 10 }),
  ];
  return written;
}

const reasons = (r: Partial<Record<'frequency_cap' | 'quiet_hours' | 'unsubscribed' | 'holdout', number>> = {}) => ({
  frequency_cap: 0,
  quiet_hours: 0,
  unsubscribed: 0,
  holdout: 0,
  ...r,
});

/**
 * The SHA-256 of the log and of its write-ahead log (absent = empty): an append lands in one of the
 * two, so equal snapshots prove nothing was written. `events.sqlite-shm` is left out: it is
 * SQLite's shared-memory index of the WAL, which any reader (a read-only one too) creates and
 * updates. Also lists any other file, so a stray file written next to the log shows up.
 */
function snapshot(dir: string): Record<string, string> {
  const sha = (name: string) => {
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(dir, name));
    } catch {
      bytes = Buffer.alloc(0);
    }
    return createHash('sha256').update(bytes).digest('hex');
  };
  return {
    'events.sqlite': sha('events.sqlite'),
    'events.sqlite-wal': sha('events.sqlite-wal'),
    files: readdirSync(dir)
      .filter((name) => !name.startsWith('events.sqlite'))
      .sort()
      .join(','),
  };
}

let dataDir: string;
let logPath: string;
let written: Written[];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'herald-simulate-'));
  logPath = join(dataDir, 'events.sqlite');
  const writer = new SqliteEventStore({ path: logPath });
  written = history();
  for (const { stream, event } of written) await writer.append(stream, [event]);
  await writer.close();
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function simulate(...args: string[]): Promise<SimulationReport> {
  const { stdout } = await run(process.execPath, [bin, '--data-dir', dataDir, 'simulate', scenarioFile, ...args, '--json']);
  return JSON.parse(stdout) as SimulationReport;
}

describe('herald simulate', () => {
  it('uses users whose buckets are the ones the expectations were worked out with', () => {
    for (const [user, bucket] of Object.entries(BUCKETS)) expect(gbHash('abandoned-cart:reminder', user, 2)).toBe(bucket);
  });

  it('reports entries, messages per step and variant, suppressions, goals and running enrolments', async () => {
    const before = snapshot(dataDir);
    const report = await simulate('--from', '2026-03-02', '--to', '2026-03-06');
    const inWindow = written.filter(({ stream, event }) => /^(user|anon)-default:/.test(stream) && event.metadata.receivedAt <= '2026-03-06T23:59:59.999Z');

    expect(report).toEqual<SimulationReport>({
      scenario: { id: 'abandoned-cart', name: 'Abandoned cart' },
      workspace: 'default',
      from: '2026-03-02T00:00:00.000Z',
      to: '2026-03-06T23:59:59.999Z',
      // Version 2 (no caps) was saved after the window: version 1 was in force throughout.
      settings: { source: 'log', inForce: SETTINGS_V1, versions: [1] },
      history: { events: inWindow.length, persons: 8 },
      entries: 7,
      enrolledPersons: 7,
      steps: [
        {
          stepId: 'reminder',
          channel: 'email',
          reached: 7,
          queued: 4,
          deferred: 1,
          suppressed: reasons({ frequency_cap: 1, quiet_hours: 1, unsubscribed: 1, holdout: 1 }),
          variants: [
            // eve, tia (deferred, then queued), dan; eve converted.
            { key: 'plain', assigned: 3, queued: 3, deferred: 1, suppressed: reasons({ quiet_hours: 1 }), goals: 1, conversionRate: 1 / 3 },
            // ada (capped), bob (unsubscribed), cleo; cleo converted.
            { key: 'discount', assigned: 3, queued: 1, deferred: 0, suppressed: reasons({ frequency_cap: 1, unsubscribed: 1 }), goals: 1, conversionRate: 1 / 3 },
            // pia, who ordered anyway.
            { key: 'holdout', assigned: 1, queued: 0, deferred: 0, suppressed: reasons({ holdout: 1 }), goals: 1, conversionRate: 1 },
          ],
        },
        // pia, tia, ada, bob did not order within 24h.
        { stepId: 'sms-nudge', channel: 'sms', reached: 4, queued: 4, deferred: 0, suppressed: reasons(), variants: [] },
      ],
      suppressions: reasons({ frequency_cap: 1, quiet_hours: 1, unsubscribed: 1, holdout: 1 }),
      goals: { reached: 3, rate: 3 / 7 },
      // No `archived` exit: the welcome series' TimerFired was folded, not decided on.
      exits: { exit_on: 2, exit_step: 4 },
      running: { total: 1, byStep: { 'wait-purchase': 1 } },
    });
    expect(snapshot(dataDir)).toEqual(before);
  });

  it('prints a readable table by default', async () => {
    const { stdout, stderr } = await run(process.execPath, [bin, '--data-dir', dataDir, 'simulate', scenarioFile, '--from', '2026-03-02', '--to', '2026-03-06']);
    expect(stderr).toBe(''); // not a TTY: no progress bar
    expect(stdout).toContain('Simulation of abandoned-cart (Abandoned cart) in workspace default: nothing was sent or appended');
    expect(stdout).toContain('Entries   7 (7 persons)');
    expect(stdout).toContain('Goals     3 (42.9% of entries)');
    expect(stdout).toContain('Running   1 at 2026-03-06T23:59:59.999Z (wait-purchase 1)');
    expect(stdout).toMatch(/reminder\s+email\s+plain\s+3\s+3\s+1\s+0\s+0\s+0\s+1\s+33\.3%/);
    expect(stdout).toMatch(/reminder\s+email\s+holdout\s+1\s+0\s+0\s+0\s+0\s+1\s+1\s+100\.0%/);
    expect(stdout).toMatch(/sms-nudge\s+sms\s+-\s+4\s+4\s+0\s+0\s+0\s+0/);
    expect(stdout).toMatch(/quiet_hours\s+1\s+deferred until quiet hours end/);
  });

  it('enrols only on triggers inside the window, with the settings in force then', async () => {
    // hana's checkout of 03-07 enrols now; dan's of 03-06 is before the window and does not.
    const report = await simulate('--from', '2026-03-07T00:00:00Z', '--to', '2026-03-08T23:59:59Z');
    expect(report.entries).toBe(1);
    expect(report.settings).toEqual({ source: 'log', inForce: { caps: [] }, versions: [1, 2] });
    expect(report.steps[0]).toMatchObject({ stepId: 'reminder', reached: 1, queued: 1, variants: [{ key: 'plain', assigned: 0 }, { key: 'discount', assigned: 1, queued: 1 }, { key: 'holdout', assigned: 0 }] });
    // hana's SMS at 03-08 10:00; she never ordered.
    expect(report.steps[1]).toMatchObject({ stepId: 'sms-nudge', queued: 1 });
    expect(report.exits).toEqual({ exit_step: 1 });
    expect(report.goals).toEqual({ reached: 0, rate: 0 });
    expect(report.running.total).toBe(0);

    // A window with no trigger in it enrols nobody, though the history before it is read.
    const quiet = await simulate('--from', '2026-03-05', '--to', '2026-03-05');
    expect(quiet).toMatchObject({ entries: 0, steps: [{ reached: 0 }, { reached: 0 }], exits: {}, running: { total: 0, byStep: {} } });
  });

  it('uses --settings instead of the recorded settings', async () => {
    const file = join(dataDir, '..', `herald-simulate-settings-${process.pid}.json`);
    writeFileSync(file, JSON.stringify({ caps: [] }));
    try {
      const report = await simulate('--from', '2026-03-02', '--to', '2026-03-06', '--settings', file);
      // Without the cap ada's reminder goes out; without quiet hours tia's is not deferred.
      expect(report.settings).toEqual({ source: 'file', inForce: { caps: [] } });
      expect(report.suppressions).toEqual(reasons({ unsubscribed: 1, holdout: 1 }));
      expect(report.steps[0]).toMatchObject({ queued: 5, deferred: 0 });
      expect(report.steps[0].variants.map((v) => [v.key, v.queued])).toEqual([['plain', 3], ['discount', 2], ['holdout', 0]]);
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('fails on an invalid scenario with every problem and its path, and touches nothing', async () => {
    const before = snapshot(dataDir);
    const definition = parseYaml(readFileSync(scenarioFile, 'utf8'));
    definition.steps[1].send.holdout = 100;
    definition.steps[2].onTimeout = 'sms';
    const file = join(dataDir, '..', `herald-simulate-bad-${process.pid}.yaml`);
    writeFileSync(file, JSON.stringify(definition)); // JSON is YAML too
    try {
      const failure = run(process.execPath, [bin, '--data-dir', dataDir, 'simulate', file, '--from', '2026-03-02']);
      await expect(failure).rejects.toMatchObject({ code: 1, stdout: '' });
      const { stderr } = await failure.catch((error: { stderr: string }) => error);
      expect(stderr).toContain(`${file} is not a valid scenario (2 problems)`);
      expect(stderr).toContain('steps[1].send.holdout: holdout is the percentage');
      expect(stderr).toContain('steps[2].onTimeout: no step has id "sms"');
    } finally {
      rmSync(file, { force: true });
    }
    await expect(run(process.execPath, [bin, '--data-dir', dataDir, 'simulate', scenarioFile, '--from', 'last tuesday'])).rejects.toMatchObject({
      stderr: expect.stringContaining('expected an ISO 8601 date'),
    });
    // A draft no recorded event can trigger is refused rather than reported with nobody enrolled.
    const receipt = join(__dirname, '../../../examples/scenarios/service-notification.yaml');
    await expect(run(process.execPath, [bin, '--data-dir', dataDir, 'simulate', receipt, '--from', '2026-03-02'])).rejects.toMatchObject({
      code: 1,
      stdout: '',
      stderr: expect.stringContaining('trigger.api: an API-triggered scenario cannot be simulated'),
    });
    expect(snapshot(dataDir)).toEqual(before);
  });

  it('appends nothing to a log a live server is writing to', async () => {
    const writer = new SqliteEventStore({ path: logPath });
    try {
      const head = await writer.headPosition();
      const definition = parseScenarioDefinition(parseYaml(readFileSync(scenarioFile, 'utf8')));
      if (!definition.ok) throw new Error('the example must parse');
      const reader = new SqliteEventStore({ path: logPath, readonly: true });
      const report = await simulateScenario(reader, definition.definition, {
        workspace: 'default',
        from: Date.parse('2026-03-02T00:00:00Z'),
        to: Date.parse('2026-03-06T23:59:59.999Z'),
      });
      await reader.close();
      expect(report.entries).toBe(7);
      expect(await writer.headPosition()).toBe(head);
      expect((await writer.readAll()).map((e) => e.id)).toEqual(written.map((w) => w.event.id));
    } finally {
      await writer.close();
    }
  });
});

describe('the server\'s simulations (POST /api/scenarios/simulate), on a thread of their own', () => {
  const draft = () => {
    const parsed = parseScenarioDefinition(parseYaml(readFileSync(scenarioFile, 'utf8')));
    if (!parsed.ok) throw new Error('the example must parse');
    return parsed.definition;
  };
  const window = { workspace: 'default', from: Date.parse('2026-03-02T00:00:00Z'), to: Date.parse('2026-03-06T23:59:59.999Z') };
  const clock = new TestClock(new Date('2026-03-09T00:00:00Z'));

  it('report what the command reports, and append nothing', async () => {
    const before = snapshot(dataDir);
    const onThread = await new ScenarioSimulations({ dataDir }, clock).run(draft(), window);
    expect(onThread).toEqual(await simulate('--from', '2026-03-02', '--to', '2026-03-06'));
    // Without `to`: up to the server clock's now.
    expect((await new ScenarioSimulations({ dataDir }, clock).run(draft(), { ...window, to: undefined })).to).toBe('2026-03-09T00:00:00.000Z');
    expect(snapshot(dataDir)).toEqual(before);
  });

  it('run one at a time: a second while one runs is a 429', async () => {
    const simulations = new ScenarioSimulations({ dataDir }, clock);
    const first = simulations.run(draft(), window);
    await expect(simulations.run(draft(), window)).rejects.toMatchObject({ status: 429 });
    expect((await first).entries).toBe(7);
    // Free again once the first has answered.
    expect((await simulations.run(draft(), window)).entries).toBe(7);
  });

  it('end with the server: stop() ends a simulation still running (a 503 for its request), and no other starts', async () => {
    const simulations = new ScenarioSimulations({ dataDir }, clock);
    const running = simulations.run(draft(), window);
    await simulations.stop();
    await expect(running).rejects.toMatchObject({ status: 503, message: expect.stringContaining('the simulation was stopped') });
    await expect(simulations.run(draft(), window)).rejects.toMatchObject({ status: 503 });
  });

  it('end the thread, not the server, when a simulation outgrows its heap: a 422 that says so', async () => {
    const starved = new ScenarioSimulations({ dataDir }, clock, 1);
    await expect(starved.run(draft(), window)).rejects.toMatchObject({ status: 422, message: expect.stringContaining('more than its 1 MB heap') });
  });
});
