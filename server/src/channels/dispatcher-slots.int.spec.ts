/**
 * The dispatcher's call slots (`concurrency`) against a real SQLite log: they bound the provider calls
 * in flight on every channel. A channel sent at most once takes its slot before recording the intent,
 * so a crash leaves at most `concurrency` intents without a call; a channel safe to retry records its
 * intents without waiting for a slot, so the log's commits do not limit how fast it sends.
 */
import { type Channel, userStream } from '@herald/projections';
import type { RecordedEvent } from '../event-store/event-store.port';
import { TestClock } from '../shared/clock';
import { until, useLogAndState } from '../test-support/log-and-state';
import type { ChannelAdapter, Delivery, SendResult } from './channel.port';
import { Dispatcher } from './dispatcher.projection';
import { LinkSigner } from './link-signer';
import { queueMessage } from './queued-message.fixture';
import type { MessageRenderer } from './renderer.port';

const log = useLogAndState('dispatcher-slots');
const clock = new TestClock(new Date('2026-01-01T00:00:00Z'));
const renderer: MessageRenderer = { render: async () => ({ text: 'Your cart misses you' }) };
const PEOPLE = 8;
const CONCURRENCY = 2;

/** A provider whose calls all wait until `open` is called; it counts the calls in flight. */
class GatedAdapter implements ChannelAdapter {
  readonly channel: Channel = 'sms';
  readonly provider = 'gated';
  inFlight = 0;
  mostInFlight = 0;
  private opened = false;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly safeToRetry: boolean) {}

  address(): string {
    return '+15550100';
  }

  async send(delivery: Delivery): Promise<SendResult> {
    this.inFlight += 1;
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
    if (!this.opened) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.inFlight -= 1;
    return { providerMessageId: `gated:${delivery.messageId}` };
  }

  open(): void {
    this.opened = true;
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

async function queueMessages(): Promise<RecordedEvent[]> {
  const queued: RecordedEvent[] = [];
  for (let i = 0; i < PEOPLE; i++) queued.push(await queueMessage(log.store, userStream('default', `p${i}`), `m-${i}`, 'sms', clock.now()));
  return queued;
}

async function recorded(type: string): Promise<number> {
  return (await log.store.readAll()).filter((event) => event.type === type).length;
}

/** Handles every message at once, as the runner does for one batch of different people's messages. */
async function dispatchAll(adapter: GatedAdapter): Promise<{ handled: Promise<unknown>; dispatcher: Dispatcher }> {
  const dispatcher = new Dispatcher(log.db, log.store, { sms: adapter }, renderer, new LinkSigner(Buffer.from('k'), 'https://herald.test'), clock, {
    concurrency: CONCURRENCY,
  });
  const queued = await queueMessages();
  return { handled: Promise.all(queued.map((event) => dispatcher.handle(event))), dispatcher };
}

it('records every intent of a channel safe to retry while the calls wait, and still makes at most `concurrency` calls at once', async () => {
  const adapter = new GatedAdapter(true);
  const { handled, dispatcher } = await dispatchAll(adapter);
  await until(() => adapter.inFlight === CONCURRENCY, 'calls in flight');
  // Not reached within 10 s, the count below says how far it got.
  await until(async () => (await recorded('MessageDispatching')) === PEOPLE).catch(() => undefined);
  expect(await recorded('MessageDispatching')).toBe(PEOPLE);
  expect(adapter.inFlight).toBe(CONCURRENCY);

  adapter.open();
  await handled;
  await dispatcher.drain();
  expect(await recorded('MessageSent')).toBe(PEOPLE);
  expect(adapter.mostInFlight).toBe(CONCURRENCY);
});

it('records no more intents of a channel sent at most once than it has call slots', async () => {
  const adapter = new GatedAdapter(false);
  const { handled, dispatcher } = await dispatchAll(adapter);
  await until(() => adapter.inFlight === CONCURRENCY, 'calls in flight');
  // Give the other messages every chance to record an intent: they must be waiting for a slot.
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(await recorded('MessageDispatching')).toBe(CONCURRENCY);

  adapter.open();
  await handled;
  await dispatcher.drain();
  expect(await recorded('MessageDispatching')).toBe(PEOPLE);
  expect(await recorded('MessageSent')).toBe(PEOPLE);
  expect(adapter.mostInFlight).toBe(CONCURRENCY);
});
