/**
 * A provider that says how long to wait (a 429's `Retry-After`, Telegram's `retry_after`) is not
 * asked again sooner: a retry inside that wait is refused again and spends one of the attempts.
 */
import { type Channel, userStream } from '@herald/projections';
import { TestClock } from '../shared/clock';
import { useLogAndState } from '../test-support/log-and-state';
import { type ChannelAdapter, type Delivery, type SendResult, TransientDeliveryError } from './channel.port';
import { Dispatcher } from './dispatcher.projection';
import { LinkSigner } from './link-signer';
import { queueMessage } from './queued-message.fixture';
import type { MessageRenderer } from './renderer.port';

const log = useLogAndState('dispatcher-retry-after');
const clock = new TestClock(new Date('2026-01-01T00:00:00Z'));
const renderer: MessageRenderer = { render: async () => ({ text: 'Your cart misses you' }) };

/** A provider that throttles every call, asking for `retryAfterMs` (or not saying). */
class ThrottlingAdapter implements ChannelAdapter {
  readonly channel: Channel = 'sms';
  readonly provider = 'throttling';
  readonly safeToRetry = true;

  constructor(private readonly retryAfterMs?: number) {}

  address(): string {
    return '+15550100';
  }

  async send(_delivery: Delivery): Promise<SendResult> {
    throw new TransientDeliveryError('429 Too Many Requests', this.retryAfterMs);
  }
}

async function scheduledDelay(adapter: ThrottlingAdapter, messageId: string): Promise<unknown> {
  const dispatcher = new Dispatcher(log.db, log.store, { sms: adapter }, renderer, new LinkSigner(Buffer.from('k'), 'https://herald.test'), clock, {
    retryBaseMs: 1000,
  });
  const stream = userStream('default', messageId);
  await dispatcher.handle(await queueMessage(log.store, stream, messageId, 'sms', clock.now()));
  await dispatcher.drain();
  const scheduled = (await log.store.readStream(stream)).find((event) => event.type === 'MessageRetryScheduled');
  return scheduled?.data;
}

it("waits as long as the provider asked when that is longer than the backoff, and the backoff otherwise", async () => {
  expect(await scheduledDelay(new ThrottlingAdapter(120_000), 'm-asked')).toMatchObject({ attempt: 2, delayMs: 120_000, dueAt: '2026-01-01T00:02:00.000Z' });
  expect(await scheduledDelay(new ThrottlingAdapter(), 'm-silent')).toMatchObject({ attempt: 2, delayMs: 1000, dueAt: '2026-01-01T00:00:01.000Z' });
  expect(await scheduledDelay(new ThrottlingAdapter(10), 'm-short')).toMatchObject({ attempt: 2, delayMs: 1000 });
});
