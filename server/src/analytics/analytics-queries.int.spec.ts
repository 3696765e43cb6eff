/**
 * The overview's active-enrolment count against the real engines: an enrolment an identity link
 * moved to the user's stream ends on the anonymous stream (`merged_into_user`) but goes on.
 */
import type { RecordedEvent } from '../event-store/event-store.port';
import { openStateDb } from '../state/state-db';
import { analyticsEngines, warnIfNoServer } from './analytics-engines.fixture';
import { AnalyticsQueries } from './analytics-queries';
import { dropAnalyticsSchema, ensureAnalyticsSchema } from './analytics-schema';
import type { AnalyticsStore } from './analytics-store.port';
import { EVENT_TSV_COLUMNS, eventRowTsv } from './event-rows';
import { FunnelContext } from './funnel-context';

warnIfNoServer('analytics queries');

describe.each(analyticsEngines)('analytics queries against $name', (engine) => {
  let store: AnalyticsStore;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    ({ store, dispose } = await engine.open());
    await dropAnalyticsSchema(store);
    await ensureAnalyticsSchema(store);
  });
  afterAll(async () => dispose());

  it('counts an enrolment moved to the user by an identity link as still active; one ended because the user had it as exited', async () => {
    let position = 0;
    const event = (stream: string, type: string, data: unknown): RecordedEvent => {
      position += 1;
      const metadata = { workspace: 'default', occurredAt: '2026-03-02T10:00:00.000Z', receivedAt: '2026-03-02T10:00:00.000Z', schemaVersion: 1 };
      return { id: `00000000-0000-4000-8000-${String(position).padStart(12, '0')}`, type, data, stream, revision: position, position, recordedAt: '2026-03-02T10:00:01.000Z', metadata };
    };
    const started = (stream: string, enrollmentId: string) => event(stream, 'EnrollmentStarted', { enrollmentId, scenarioId: 'cart', version: 1 });
    const exited = (stream: string, enrollmentId: string, reason: string) => event(stream, 'EnrollmentExited', { enrollmentId, scenarioId: 'cart', reason });
    const history = [
      started('anon-default:g1', 'moved'),
      started('user-default:ada', 'own'),
      started('anon-default:g2', 'duplicate'),
      exited('anon-default:g1', 'moved', 'merged_into_user'),
      event('user-default:ada', 'EnrollmentMerged', { enrollmentId: 'moved', scenarioId: 'cart' }),
      exited('anon-default:g2', 'duplicate', 'merged_already_enrolled'),
      exited('user-default:ada', 'own', 'completed'),
    ];
    const context = new FunnelContext(openStateDb(':memory:'));
    await store.insertTabSeparated('events', EVENT_TSV_COLUMNS, Buffer.from(history.map((e) => eventRowTsv(e, context)).join('\n')));
    expect(await new AnalyticsQueries(store).activeEnrollments('default')).toEqual([{ scenarioId: 'cart', started: 3, exited: 2, active: 1 }]);
  });
});
