import { dueOccurrence } from './schedule';

const at = (iso: string) => Date.parse(iso);

describe('dueOccurrence', () => {
  it('a one-off at an instant, or a date at local time in each member zone', () => {
    expect(dueOccurrence({ segment: 's', at: '2026-03-05T10:00:00Z' }, 0, at('2026-03-05T09:59:59Z'), 'UTC', 'UTC')).toBeUndefined();
    expect(dueOccurrence({ segment: 's', at: '2026-03-05T10:00:00Z' }, 0, at('2026-03-06T00:00:00Z'), 'UTC', 'UTC')).toEqual({
      key: '2026-03-05T10:00:00Z',
      dueAt: at('2026-03-05T10:00:00Z'),
    });
    // Without an offset: workspace wall time.
    expect(dueOccurrence({ segment: 's', at: '2026-03-05T10:00' }, 0, at('2026-03-06T00:00:00Z'), 'UTC', 'Europe/Amsterdam')?.dueAt).toBe(at('2026-03-05T09:00:00Z'));
    const local = { segment: 's', at: '2026-03-05', localTime: '08:00' };
    expect(dueOccurrence(local, 0, at('2026-03-05T07:30:00Z'), 'Europe/Amsterdam', 'UTC')?.dueAt).toBe(at('2026-03-05T07:00:00Z'));
    expect(dueOccurrence(local, 0, at('2026-03-05T07:30:00Z'), 'America/New_York', 'UTC')).toBeUndefined();
    expect(dueOccurrence(local, 0, at('2026-03-05T13:00:00Z'), 'America/New_York', 'UTC')?.dueAt).toBe(at('2026-03-05T13:00:00Z'));
  });

  it('recurring every period after publishing; only the latest due occurrence', () => {
    const published = at('2026-03-01T12:00:00Z');
    const weekly = { segment: 's', every: '1w' };
    expect(dueOccurrence(weekly, published, at('2026-03-08T11:59:59Z'), 'UTC', 'UTC')).toBeUndefined();
    expect(dueOccurrence(weekly, published, at('2026-03-08T12:00:00Z'), 'UTC', 'UTC')).toEqual({ key: '#1', dueAt: at('2026-03-08T12:00:00Z') });
    expect(dueOccurrence(weekly, published, at('2026-03-23T00:00:00Z'), 'UTC', 'UTC')).toEqual({ key: '#3', dueAt: at('2026-03-22T12:00:00Z') });
  });

  it('recurring on local days at a local time, across a DST change', () => {
    const published = at('2026-03-26T12:00:00Z'); // Thursday, after 08:00 in Amsterdam
    const daily = { segment: 's', every: '1d', localTime: '08:00' };
    expect(dueOccurrence(daily, published, at('2026-03-27T06:59:00Z'), 'Europe/Amsterdam', 'UTC')).toBeUndefined();
    expect(dueOccurrence(daily, published, at('2026-03-27T07:00:00Z'), 'Europe/Amsterdam', 'UTC')).toEqual({ key: '2026-03-27', dueAt: at('2026-03-27T07:00:00Z') });
    // Summer time from 29 March: 08:00 in Amsterdam is 06:00 UTC.
    expect(dueOccurrence(daily, published, at('2026-03-30T06:30:00Z'), 'Europe/Amsterdam', 'UTC')).toEqual({ key: '2026-03-30', dueAt: at('2026-03-30T06:00:00Z') });
    const everyOtherDay = { segment: 's', every: '2d', localTime: '08:00' };
    expect(dueOccurrence(everyOtherDay, published, at('2026-03-28T12:00:00Z'), 'UTC', 'UTC')?.key).toBe('2026-03-27');
    expect(dueOccurrence(everyOtherDay, published, at('2026-03-29T08:00:00Z'), 'UTC', 'UTC')?.key).toBe('2026-03-29');
  });
});
