/**
 * Durable retries through the whole app: a local SMTP server answers 451 (try later), the failed
 * attempt is recorded as `MessageRetryScheduled`, Herald restarts, and when the test clock passes the
 * due time the retry timer brings the message back for one more attempt, which the server accepts.
 * A permanent answer on a retry ends in a bounce; a server that never accepts ends in `MessageFailed`.
 */
import { userStream } from '@herald/projections';
import { EVENT_STORE, type EventStore } from '../event-store/event-store.port';
import { TestClock } from '../shared/clock';
import { uuidv7 } from '../shared/ids';
import { adminGet, eventually, post, startTestApp, type TestApp, tempDataDir } from '../test-support/herald-test-app';
import { type Rejection, startSmtpServer, type TestSmtpServer } from './email/smtp-server.fixture';
import { rmSync } from 'node:fs';

const MINUTE = 60_000;
let smtp: TestSmtpServer;
let herald: TestApp;
let dataDir: string;
let clock: TestClock;
/** What the SMTP server answers to each RCPT TO, in turn; then it accepts. */
let answers: Array<Rejection | undefined>;
let rcptCalls = 0;

const start = (env: Record<string, string> = {}) =>
  startTestApp({ dataDir, clock, env: { SMTP_URL: smtp.url, EMAIL_FROM: 'Acme <shop@acme.test>', PUBLIC_URL: 'https://herald.test', DISPATCH_RETRY_BASE_MS: String(MINUTE), ...env } });

beforeEach(async () => {
  answers = [];
  rcptCalls = 0;
  smtp = await startSmtpServer({ rejectRecipient: () => answers[rcptCalls++] });
  dataDir = tempDataDir();
  clock = new TestClock(new Date('2026-03-02T09:00:00Z'));
});
afterEach(async () => {
  await herald.close();
  await smtp.close();
  rmSync(dataDir, { recursive: true, force: true });
});

type Logged = { type: string; data: Record<string, any> };
const history = async (userId: string): Promise<Logged[]> => (await adminGet(`${herald.url}/api/users/${userId}/events`)).body.events as Logged[];
const about = async (userId: string, messageId: string) => (await history(userId)).filter((e) => e.data?.messageId === messageId);
const types = async (userId: string, messageId: string) => (await about(userId, messageId)).map((e) => `${e.type}${e.data.attempt ? `#${e.data.attempt}` : ''}`);
const until = (userId: string, messageId: string, type: string, count = 1) =>
  eventually(async () => (await about(userId, messageId)).filter((e) => e.type === type).length >= count, 15_000);

async function queue(userId: string, messageId: string, { withVariables = true } = {}) {
  const now = clock.now().toISOString();
  await herald.app.get<EventStore>(EVENT_STORE).append(userStream('default', userId), [
    {
      id: uuidv7(),
      type: 'MessageQueued',
      data: {
        messageId,
        enrollmentId: 'enr-retry',
        scenarioId: 'abandoned-cart',
        stepId: 'reminder',
        channel: 'email',
        template: 'cart-plain',
        transactional: false,
        ...(withVariables ? { variables: { user: {}, event: { cart_id: 'c42' }, trigger: { cart_id: 'c42' } } } : {}),
        checks: { subscribed: true, caps: [], quietHours: 'none', timezone: 'UTC' },
      },
      metadata: { workspace: 'default', occurredAt: now, receivedAt: now, schemaVersion: 1 },
    },
  ]);
}

describe('durable retries of transient failures', () => {
  it('a MessageQueued without variables gets an outcome and does not hold back the messages after it', async () => {
    herald = await start();
    await post(`${herald.url}/v1/identify`, { userId: 'ada', traits: { email: 'ada@example.com', first_name: 'Ada' } });
    await queue('ada', 'enr-retry/reminder/0', { withVariables: false });
    await queue('ada', 'enr-retry/reminder/1');
    await until('ada', 'enr-retry/reminder/1', 'MessageSent');
    const first = await types('ada', 'enr-retry/reminder/0');
    expect(first.some((type) => /^Message(Sent|Failed)/.test(type))).toBe(true);
  });

  it('a 451 schedules the next attempt; after a restart it is made once, at its time, and accepted', async () => {
    answers = [{ code: 451, message: '4.7.1 Greylisted, try again later' }];
    herald = await start();
    await post(`${herald.url}/v1/identify`, { userId: 'ada', traits: { email: 'ada@example.com', first_name: 'Ada' } });
    await queue('ada', 'enr-retry/reminder/0');

    await until('ada', 'enr-retry/reminder/0', 'MessageRetryScheduled');
    const [scheduled] = (await about('ada', 'enr-retry/reminder/0')).filter((e) => e.type === 'MessageRetryScheduled');
    expect(scheduled.data).toMatchObject({ attempt: 2, dueAt: '2026-03-02T09:01:00.000Z', delayMs: MINUTE, provider: 'smtp', channel: 'email' });
    expect(scheduled.data.detail).toContain('451');
    expect(await types('ada', 'enr-retry/reminder/0')).toEqual(['MessageQueued', 'MessageDispatching#1', 'MessageRetryScheduled#2']);

    // Herald stops before the retry is due; nothing is held in memory.
    await herald.close();
    herald = await start();
    clock.advance(MINUTE);
    await until('ada', 'enr-retry/reminder/0', 'MessageSent');
    const [mail] = await smtp.waitFor(1);
    expect(mail.subject).toBe('You left something behind');
    expect(await types('ada', 'enr-retry/reminder/0')).toEqual([
      'MessageQueued',
      'MessageDispatching#1',
      'MessageRetryScheduled#2',
      'TimerFired#2',
      'MessageDispatching#2',
      'MessageSent#2',
    ]);

    // Another restart and a day later, the retry is not made again: a later message goes out alone.
    await herald.close();
    herald = await start();
    clock.advance(24 * 60 * MINUTE);
    await queue('ada', 'enr-retry/reminder/1');
    await until('ada', 'enr-retry/reminder/1', 'MessageSent');
    expect(smtp.received).toHaveLength(2);
    expect(rcptCalls).toBe(3);
    expect((await about('ada', 'enr-retry/reminder/0')).filter((e) => e.type === 'MessageDispatching')).toHaveLength(2);
  });

  it('a permanent answer on a retry is a bounce, and no further attempt is scheduled', async () => {
    answers = [{ code: 421, message: '4.3.2 Service not available' }, { code: 550, message: '5.1.1 No such user' }];
    herald = await start();
    await post(`${herald.url}/v1/identify`, { userId: 'bob', traits: { email: 'bob@example.com', first_name: 'Bob' } });
    await queue('bob', 'enr-retry/reminder/0');
    await until('bob', 'enr-retry/reminder/0', 'MessageRetryScheduled');
    clock.advance(MINUTE);
    await until('bob', 'enr-retry/reminder/0', 'MessageBounced');
    expect(await types('bob', 'enr-retry/reminder/0')).toEqual([
      'MessageQueued',
      'MessageDispatching#1',
      'MessageRetryScheduled#2',
      'TimerFired#2',
      'MessageDispatching#2',
      'MessageBounced#2',
    ]);
    expect(smtp.received).toHaveLength(0);
  });

  it('a server that keeps answering 4xx: attempts back off until the last one, then MessageFailed', async () => {
    answers = Array.from({ length: 10 }, () => ({ code: 451, message: '4.3.0 Mailbox busy' }));
    herald = await start({ DISPATCH_MAX_ATTEMPTS: '3' });
    await post(`${herald.url}/v1/identify`, { userId: 'cy', traits: { email: 'cy@example.com', first_name: 'Cy' } });
    await queue('cy', 'enr-retry/reminder/0');
    await until('cy', 'enr-retry/reminder/0', 'MessageRetryScheduled');
    clock.advance(MINUTE);
    await until('cy', 'enr-retry/reminder/0', 'MessageRetryScheduled', 2);
    const retries = (await about('cy', 'enr-retry/reminder/0')).filter((e) => e.type === 'MessageRetryScheduled');
    // The second wait is twice the first, from the time of the second failure.
    expect(retries.map((e) => [e.data.attempt, e.data.dueAt])).toEqual([
      [2, '2026-03-02T09:01:00.000Z'],
      [3, '2026-03-02T09:03:00.000Z'],
    ]);
    clock.advance(2 * MINUTE);
    await until('cy', 'enr-retry/reminder/0', 'MessageFailed');
    const failed = (await about('cy', 'enr-retry/reminder/0')).find((e) => e.type === 'MessageFailed')!;
    expect(failed.data).toMatchObject({ reason: 'retries_exhausted', attempt: 3 });
    expect(await types('cy', 'enr-retry/reminder/0')).toEqual([
      'MessageQueued',
      'MessageDispatching#1',
      'MessageRetryScheduled#2',
      'TimerFired#2',
      'MessageDispatching#2',
      'MessageRetryScheduled#3',
      'TimerFired#3',
      'MessageDispatching#3',
      'MessageFailed#3',
    ]);
    expect(rcptCalls).toBe(3);
  });
});
