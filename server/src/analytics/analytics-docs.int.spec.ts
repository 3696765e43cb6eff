/**
 * Every ```sql example in docs/analytics.md, run on each engine over a generated abandoned-cart log
 * that went through the real sink, so the documented queries cannot go stale.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { openStateDb } from '../state/state-db';
import { analyticsEngines, warnIfNoServer } from './analytics-engines.fixture';
import { ANALYTICS_TABLES, ANALYTICS_VIEWS, ensureAnalyticsSchema } from './analytics-schema';
import { AnalyticsSink } from './analytics-sink';
import type { AnalyticsStore } from './analytics-store.port';
import { funnelFromLog, generateScenarioHistory } from './scenario-history.fixture';
import { sql, trusted } from './sql';

warnIfNoServer('docs/analytics.md examples');
// Generous: these suites share 2 cores with other work, and ClickHouse inserts slow down most under load.
jest.setTimeout(120_000);

const docs = readFileSync(join(__dirname, '../../../docs/analytics.md'), 'utf8');
// Each ```sql block, titled by the ### heading of its section.
const examples = docs
  .split(/^### /m)
  .slice(1)
  .flatMap((section) => [...section.matchAll(/```sql\n([\s\S]*?)```/g)].map((match) => ({ title: section.split('\n')[0], query: match[1] })));

it('docs/analytics.md has the example queries the issue asks for', () => {
  expect(examples.map((example) => example.title)).toEqual(
    expect.arrayContaining(['Funnel by variant', 'Conversion by step', 'Time to convert', 'Messages by channel and outcome']),
  );
});

describe.each(analyticsEngines)('docs/analytics.md examples on $name', (engine) => {
  let analytics: AnalyticsStore;
  let dispose: () => Promise<void>;
  const appends = generateScenarioHistory({ users: 200, seed: 5 });

  beforeAll(async () => {
    ({ store: analytics, dispose } = await engine.open());
    await ensureAnalyticsSchema(analytics);
    const folder = mkdtempSync(join(tmpdir(), 'herald-docs-'));
    const log = new SqliteEventStore({ path: join(folder, 'events.sqlite') });
    const db = openStateDb(join(folder, 'state.sqlite'));
    for (const { stream, events } of appends) await log.append(stream, events);
    const sink = new AnalyticsSink(log, db, analytics, { maxWaitMs: 20 });
    sink.start();
    await sink.caughtUpTo(await log.headPosition());
    await sink.stop();
    await log.close();
    db.close();
    rmSync(folder, { recursive: true, force: true });
  });
  afterAll(async () => dispose());

  it.each(examples)('runs "$title" and gets rows', async ({ query }) => {
    const rows = await analytics.query(trusted(query));
    expect(rows.length).toBeGreaterThan(0);
  });

  it('"Funnel by variant" gives the counts of the log', async () => {
    const rows = await analytics.query<Record<string, string | number>>(trusted(examples.find((example) => example.title === 'Funnel by variant')!.query));
    const expected = funnelFromLog(appends);
    for (const row of rows) {
      const counts = expected.get(`${row.step_id}|${row.variant}`)!;
      expect([Number(row.entered), Number(row.sent), Number(row.opened), Number(row.clicked), Number(row.converted)]).toEqual([
        counts.entered, counts.sent, counts.opened, counts.clicked, counts.converted,
      ]);
    }
    expect(rows.length).toBe(expected.size);
  });

  it('documents every table, view and column of the schema', async () => {
    for (const name of [...ANALYTICS_TABLES, ...ANALYTICS_VIEWS]) expect(docs).toContain(`\`${name}\``);
    const columns = await analytics.query<{ table: string; name: string }>(
      sql`SELECT table, name FROM system.columns WHERE database = currentDatabase() AND table IN ('events', 'messages', 'funnel')`,
    );
    const undocumented = columns.filter((column) => !docs.includes(`\`${column.name}\``)).map((column) => `${column.table}.${column.name}`);
    expect(undocumented).toEqual([]);
  });

  it('"Messages by channel and outcome" counts each message once', async () => {
    const rows = await analytics.query<{ messages: string | number }>(trusted(examples.find((example) => example.title === 'Messages by channel and outcome')!.query));
    const messageIds = new Set(appends.flatMap(({ events }) => events.map((event) => (event.data as { messageId?: string }).messageId).filter(Boolean)));
    expect(rows.reduce((sum, row) => sum + Number(row.messages), 0)).toBe(messageIds.size);
  });
});
