import { nextWebhookAttempt, WEBHOOK_RETRY_SCHEDULED } from './webhooks.projection';

const scheduled = (attempt: number) => ({ type: WEBHOOK_RETRY_SCHEDULED, data: { attempt } });
const outcome = (type: string) => ({ type, data: {} });

describe('nextWebhookAttempt', () => {
  it('makes the first attempt of a new request, and again after a stop cut it short', () => {
    expect(nextWebhookAttempt([])).toBe(1);
    expect(nextWebhookAttempt([], 1)).toBe(1);
  });

  it('leaves a scheduled retry to its timer, and makes it when that timer fires (or its call was cut short)', () => {
    expect(nextWebhookAttempt([scheduled(2)])).toBeUndefined();
    expect(nextWebhookAttempt([scheduled(2)], 1)).toBeUndefined();
    expect(nextWebhookAttempt([scheduled(2)], 2)).toBe(2);
    // A late or repeated timer of an attempt already made starts nothing.
    expect(nextWebhookAttempt([scheduled(2), scheduled(3)], 2)).toBeUndefined();
    expect(nextWebhookAttempt([scheduled(2), scheduled(3)], 3)).toBe(3);
  });

  it('makes no attempt once an outcome is recorded', () => {
    expect(nextWebhookAttempt([outcome('WebhookSucceeded')])).toBeUndefined();
    expect(nextWebhookAttempt([scheduled(2), outcome('WebhookFailed')], 2)).toBeUndefined();
  });
});
