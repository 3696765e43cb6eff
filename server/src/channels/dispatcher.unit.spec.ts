import { type MessageStep, nextAttempt } from './dispatcher.projection';

let position = 0;
const event = (type: string, attempt?: number): MessageStep => ({ type, position: ++position, attempt: attempt ?? 1 });

describe('nextAttempt', () => {
  it('a new message: attempt 1; a stray timer for it: nothing', () => {
    expect(nextAttempt([], false)).toEqual({ kind: 'send', attempt: 1 });
    expect(nextAttempt([], false, 2)).toEqual({ kind: 'none' });
  });

  it('a scheduled retry waits for its own timer', () => {
    const log = [event('MessageDispatching', 1), event('MessageRetryScheduled', 2)];
    expect(nextAttempt(log, false)).toEqual({ kind: 'none' });
    expect(nextAttempt(log, false, 3)).toEqual({ kind: 'none' });
    expect(nextAttempt(log, false, 2)).toEqual({ kind: 'send', attempt: 2 });
  });

  it('an intent without an outcome: unknown, or the next attempt where retrying is safe; a replayed timer changes nothing', () => {
    const log = [event('MessageDispatching', 1), event('MessageRetryScheduled', 2), event('TimerFired', 2), event('MessageDispatching', 2)];
    expect(nextAttempt(log, false, 2)).toEqual({ kind: 'unknown', attempt: 2 });
    expect(nextAttempt(log, true)).toEqual({ kind: 'send', attempt: 3 });
  });

  it('a settled message: nothing, whatever comes', () => {
    for (const final of ['MessageSent', 'MessageFailed', 'MessageBounced', 'MessageOutcomeUnknown', 'MessageSuppressed']) {
      expect(nextAttempt([event('MessageDispatching', 1), event('MessageRetryScheduled', 2), event(final, 2)], true, 2)).toEqual({ kind: 'none' });
    }
  });
});
