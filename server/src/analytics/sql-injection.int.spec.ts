/**
 * Hostile values through every kind of value that reaches SQL, against the real engines: each must
 * come back unchanged, and the table must still be there afterwards.
 */
import { analyticsEngines, warnIfNoServer } from './analytics-engines.fixture';
import type { AnalyticsStore } from './analytics-store.port';
import { identifier, sql, trusted } from './sql';

warnIfNoServer('SQL escaping');

const HOSTILE = [
  "'",
  "''",
  "\\'",
  '\\',
  'trailing backslash\\',
  "'); DROP TABLE victims; --",
  "' OR 1=1 --",
  '`; DROP TABLE victims; --',
  'nul\0byte',
  'new\nline and \r\n and \t tab',
  '\b\f\v\u0001\u001f\u007f',
  '/* comment */ -- comment',
  '{name:String}',
  'zürich 東京 🚀 \u200b',
  '',
];

describe.each(analyticsEngines)('SQL escaping against $name', (engine) => {
  let store: AnalyticsStore;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    ({ store, dispose } = await engine.open());
    await store.command(trusted(`CREATE TABLE victims (id UInt32, text String, at DateTime('UTC'), tags Array(String)) ENGINE = MergeTree() ORDER BY id`));
  });
  afterAll(async () => dispose());

  it.each(HOSTILE.map((value, index) => [index, value]))('round-trips hostile string #%i as a string literal, in an array and as a name', async (index, value) => {
    const id = 1000 + Number(index);
    await store.command(sql`INSERT INTO victims (id, text, at, tags) VALUES (${id}, ${value}, ${new Date('2026-03-02T10:00:00Z')}, ${[value, 'x']})`);
    const [row] = await store.query<{ text: string; tags: string[]; alias: string }>(
      sql`SELECT text, tags, ${value} AS ${identifier(`alias ${value}`)} FROM victims WHERE id = ${id} AND text = ${value} AND has(tags, ${value})`,
    );
    expect(row.text).toBe(value);
    expect(row.tags).toEqual([value, 'x']);
    expect(Object.values(row)[2]).toBe(value);
    // Rows inserted as JSONEachRow go through the same text untouched.
    await store.insert('victims', [{ id: id + 500, text: value, at: '2026-03-02 10:00:00', tags: [value] }]);
    const [inserted] = await store.query<{ text: string }>(sql`SELECT text FROM victims WHERE id = ${id + 500}`);
    expect(inserted.text).toBe(value);
    const [{ tables }] = await store.query<{ tables: string }>(sql`SELECT count() AS tables FROM system.tables WHERE database = currentDatabase() AND name = ${'victims'}`);
    expect(Number(tables)).toBe(1);
  });

  it('round-trips numbers, negative numbers, dates and arrays of numbers', async () => {
    const [row] = await store.query<Record<string, unknown>>(
      sql`SELECT ${-5} AS negative, 1 -${-1} AS minus_negative, ${1.25} AS fraction, ${[1, -2, 3]} AS numbers, toUnixTimestamp(${new Date('2026-03-02T10:00:05Z')}) AS at, ${true} AS yes`,
    );
    expect(row).toEqual({ negative: -5, minus_negative: 2, fraction: 1.25, numbers: [1, -2, 3], at: 1772445605, yes: 1 });
  });
});
