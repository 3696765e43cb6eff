/**
 * Kills the real server (`server/dist/main.js`, SIGKILL) under load, twice: right after it answered a
 * tracking call, and while an email is being written to the SMTP server (after the whole message,
 * before the server's answer). Each time it starts again on the same data folder, and the client
 * sends the calls that got no answer again, with the same messageIds. Then it checks the log against
 * what was acknowledged and what the SMTP server received: nothing acknowledged is lost or stored
 * twice, every trigger enrols once, every timer fires once, every message ends once, and no email
 * arrives twice. `bench/crash-chaos.mjs` is the longer, randomised version of this.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSmtpServer, type TestSmtpServer } from '../channels/email/smtp-server.fixture';
import { freePort, startMain, type StartedMain } from '../test-support/main-process';

const ADMIN = 'adm_crash_test';
const WRITE_KEY = 'wk_crash_test';
const USERS = 60;
const FINAL = new Set(['MessageSent', 'MessageFailed', 'MessageOutcomeUnknown', 'MessageSuppressed', 'MessageBounced']);

interface Logged {
  position: number;
  stream: string;
  type: string;
  id: string;
  data: Record<string, any>;
  causationId?: string;
}

let dataDir: string;
let smtp: TestSmtpServer;
let herald: StartedMain | undefined;
afterEach(async () => {
  await herald?.kill();
  await smtp?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The whole log, read as another process would (read-only, while the server may be running). */
function readLog(): Logged[] {
  const db = new Database(join(dataDir, 'events.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare<[], { position: number; stream: string; type: string; event_id: Buffer; data: string; metadata: string }>(
        'SELECT e.position, s.name AS stream, e.type, e.event_id, e.data, e.metadata FROM events e JOIN streams s USING (stream_id) ORDER BY e.position',
      )
      .all();
    return rows.map((row) => ({
      position: row.position,
      stream: row.stream,
      type: row.type,
      id: row.event_id.toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-'),
      data: JSON.parse(row.data),
      causationId: JSON.parse(row.metadata).causationId,
    }));
  } finally {
    db.close();
  }
}

/** What has yet to happen: messages without an outcome, enrolments not ended, persons still in the segment. */
function pending(log: Logged[]): string[] {
  const open = new Map<string, string>();
  for (const e of log) {
    if (e.type === 'MessageQueued') open.set(`message ${e.data.messageId}`, e.stream);
    if (FINAL.has(e.type)) open.delete(`message ${e.data.messageId}`);
    if (e.type === 'EnrollmentStarted') open.set(`enrolment ${e.data.enrollmentId}`, e.stream);
    if (e.type === 'EnrollmentExited') open.delete(`enrolment ${e.data.enrollmentId}`);
    if (e.type === 'SegmentEntered') open.set(`segment ${e.stream}`, e.stream);
    if (e.type === 'SegmentExited') open.delete(`segment ${e.stream}`);
  }
  return [...open.keys()];
}

const countBy = <T>(items: T[], key: (item: T) => string) => {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
};
const repeated = <T>(items: T[], key: (item: T) => string) => [...countBy(items, key)].filter(([, n]) => n > 1).map(([k]) => k);

it('loses nothing acknowledged and sends no email twice when the server is killed twice under load', async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'herald-crash-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let up = false;
  let kills = 0;
  let killedOnEmail: string | undefined;
  /** SIGKILL, then a start on the same data folder; calls wait while the server is down. */
  const crash = async () => {
    up = false;
    kills++;
    await herald!.kill();
    herald = await start();
    up = true;
  };
  let crashing: Promise<void> | undefined;

  // The second kill: once emails go out after the first restart, while one is being sent.
  let mailsBeforeSecondKill = Infinity;
  smtp = await startSmtpServer({
    beforeAnswer: async (mail) => {
      if (kills !== 1 || smtp.received.length < mailsBeforeSecondKill || crashing) return;
      killedOnEmail = mail.headers.get('x-herald-message-id') as string;
      up = false;
      kills++;
      // Herald is dead before the answer to its message is written: it cannot know it was taken.
      await herald!.kill();
      crashing = start().then((started) => {
        herald = started;
        up = true;
        crashing = undefined;
      });
    },
  });
  const env = {
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    ADMIN_TOKEN: ADMIN,
    DEFAULT_WRITE_KEY: WRITE_KEY,
    SMTP_URL: smtp.url,
    LOG_LEVEL: 'warn',
    DISPATCH_RETRY_BASE_MS: '100',
  };
  const start = () => startMain(env);
  herald = await start();
  up = true;

  const admin = async (method: string, path: string, body: unknown) => {
    const response = await fetch(base + path, { method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(response.status).toBeLessThan(300);
  };
  await admin('POST', '/api/scenarios', {
    id: 'welcome',
    name: 'Welcome',
    trigger: { event: 'Signed Up' },
    entry: { reenter: 'always', concurrent: true },
    steps: [{ id: 'hello', send: { channel: 'email', template: 'welcome-1' } }],
  });
  await admin('POST', '/api/scenarios', {
    id: 'cart',
    name: 'Cart',
    trigger: { event: 'Checkout Started' },
    entry: { reenter: 'always', concurrent: true },
    steps: [
      { id: 'wait', wait: '2s' },
      { id: 'reminder', send: { channel: 'email', template: 'cart-plain' } },
    ],
  });
  await admin('POST', '/api/segments', { id: 'browsing', name: 'Browsing', where: { performed: 'Product Viewed', within: '2s' } });

  // Each user: an identify and a sign-up in one batch, a product view, a checkout. Eight users at a time.
  const acknowledged = new Set<string>();
  const callsOf = (u: number) => {
    const userId = `u${u}`;
    const message = (name: string, body: Record<string, unknown>) => ({ userId, messageId: `crash-${u}-${name}`, ...body });
    const identify = message('identify', { type: 'identify', traits: { email: `${userId}@example.test` } });
    const signUp = message('signup', { type: 'track', event: 'Signed Up' });
    return [
      { path: '/v1/batch', body: { batch: [identify, signUp] } },
      { path: '/v1/track', body: message('view', { event: 'Product Viewed' }) },
      { path: '/v1/track', body: message('checkout', { event: 'Checkout Started', properties: { cart_id: `c${u}` } }) },
    ];
  };
  const send = async (call: { path: string; body: any }): Promise<boolean> => {
    try {
      const response = await fetch(base + call.path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}` },
        body: JSON.stringify(call.body),
      });
      await response.text();
      if (response.status !== 200) return false;
    } catch {
      return false; // the server went down: no answer, so the call is sent again
    }
    for (const message of call.body.batch ?? [call.body]) acknowledged.add(message.messageId);
    // The first kill: right after the 40th answer, with other calls in flight.
    if (acknowledged.size >= 40 && kills === 0 && !crashing) crashing = crash().then(() => (crashing = undefined));
    return true;
  };
  let next = 0;
  const worker = async () => {
    for (let u = next++; u < USERS; u = next++) {
      for (const call of callsOf(u)) {
        while (!up || !(await send(call))) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      if (kills === 1 && mailsBeforeSecondKill === Infinity) mailsBeforeSecondKill = smtp.received.length + 3;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  // The reminders go out after their wait: the second kill may come after the last call.
  for (const deadline = Date.now() + 60_000; kills < 2 || crashing; ) {
    if (Date.now() > deadline) throw new Error(`${kills} kills, ${smtp.received.length} emails received`);
    await (crashing ?? new Promise((resolve) => setTimeout(resolve, 50)));
  }

  // Let it drain: every message ends, every enrolment ends, every segment entry is followed by its exit.
  let log = readLog();
  for (let deadline = Date.now() + 60_000; pending(log).length > 0; log = readLog()) {
    if (Date.now() > deadline) throw new Error(`Still pending after 60 s: ${pending(log).slice(0, 10).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const of = (type: string) => log.filter((e) => e.type === type);

  // Every acknowledged messageId is in the log, once.
  const ingested = log.filter((e) => e.type === 'Tracked' || e.type === 'Identified');
  expect(acknowledged.size).toBe(USERS * 4);
  expect(new Set(ingested.map((e) => e.data.messageId))).toEqual(acknowledged);
  expect(ingested).toHaveLength(acknowledged.size);

  // One enrolment per trigger event; one message per enrolment; each wait's timer fires once.
  const triggers = ingested.filter((e) => e.data.event === 'Signed Up' || e.data.event === 'Checkout Started');
  expect(of('EnrollmentStarted').map((e) => e.data.trigger.eventId).sort()).toEqual(triggers.map((e) => e.id).sort());
  expect(of('MessageQueued').map((e) => e.data.enrollmentId).sort()).toEqual(of('EnrollmentStarted').map((e) => e.data.enrollmentId).sort());
  const scenarioTimers = of('TimerFired').filter((e) => e.data.purpose === 'scenario');
  expect(scenarioTimers.map((e) => e.data.timerId).sort()).toEqual(of('TimerScheduled').map((e) => e.data.timerId).sort());

  // Each message ends once; a retry's attempt is made once.
  const outcomes = log.filter((e) => FINAL.has(e.type));
  expect(repeated(outcomes, (e) => e.data.messageId)).toEqual([]);
  expect(new Set(outcomes.map((e) => e.data.messageId))).toEqual(new Set(of('MessageQueued').map((e) => e.data.messageId)));
  expect(repeated(of('MessageDispatching'), (e) => `${e.data.messageId}|${e.data.attempt}`)).toEqual([]);

  // No email arrives twice; every one recorded as sent arrived; the one the server died sending is
  // recorded as unknown, not sent again.
  const arrived = smtp.received.map((mail) => mail.headers.get('x-herald-message-id') as string);
  expect(repeated(arrived, (id) => id)).toEqual([]);
  expect(arrived).toContain(killedOnEmail);
  const outcomeOf = new Map(outcomes.map((e) => [e.data.messageId as string, e.type]));
  expect(outcomeOf.get(killedOnEmail!)).toBe('MessageOutcomeUnknown');
  for (const e of of('MessageSent')) expect(arrived).toContain(e.data.messageId);
  for (const id of arrived) expect(['MessageSent', 'MessageOutcomeUnknown']).toContain(outcomeOf.get(id));

  // Segment membership changes once per cause, entering and leaving in turn.
  const transitions = log.filter((e) => e.type === 'SegmentEntered' || e.type === 'SegmentExited');
  expect(repeated(transitions, (e) => `${e.type}|${e.data.segmentId}|${e.causationId}`)).toEqual([]);
  const byPerson = new Map<string, string[]>();
  for (const e of transitions) byPerson.set(e.stream, [...(byPerson.get(e.stream) ?? []), e.type]);
  for (const [stream, types] of byPerson) {
    expect([stream, types]).toEqual([stream, types.map((_, i) => (i % 2 === 0 ? 'SegmentEntered' : 'SegmentExited'))]);
  }
  expect(transitions.length).toBeGreaterThanOrEqual(USERS * 2);
}, 180_000);
