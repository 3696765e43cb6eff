import { identifier, join, literal, sql, SqlValueError } from './sql';

describe('sql builder', () => {
  it('quotes strings and escapes the quote, the backslash and control characters', () => {
    expect(sql`SELECT ${"it's"}`.text).toBe(`SELECT 'it\\'s'`);
    expect(literal('a\\b')).toBe(`'a\\\\b'`);
    expect(literal('line\nbreak\r\ttab\0nul')).toBe(`'line\\nbreak\\r\\ttab\\0nul'`);
    expect(literal('\u0001\u007f')).toBe(`'\\x01\\x7f'`);
    expect(literal('zürich 東京 🚀')).toBe(`'zürich 東京 🚀'`);
  });

  it('writes numbers, bigints and booleans as literals, negative ones in parentheses', () => {
    expect(sql`x = ${42} AND y = ${-1.5} AND z = ${10n} AND b = ${true}`.text).toBe('x = 42 AND y = (-1.5) AND z = 10 AND b = 1');
    expect(sql`1 -${-1}`.text).toBe('1 -(-1)');
  });

  it('refuses values that have no literal', () => {
    expect(() => literal(Number.NaN)).toThrow(SqlValueError);
    expect(() => literal(Number.POSITIVE_INFINITY)).toThrow(SqlValueError);
    expect(() => literal(new Date('nope'))).toThrow(SqlValueError);
    expect(() => literal({} as never)).toThrow(SqlValueError);
  });

  it('writes dates as UTC DateTime with second precision', () => {
    expect(literal(new Date('2026-03-02T10:00:05.789Z'))).toBe(`toDateTime('2026-03-02 10:00:05', 'UTC')`);
  });

  it('writes arrays element by element, and null as NULL', () => {
    expect(literal(['a', "b'", 3])).toBe(`['a', 'b\\'', 3]`);
    expect(literal([])).toBe('[]');
    expect(literal(null)).toBe('NULL');
    expect(literal(undefined)).toBe('NULL');
  });

  it('back-quotes identifiers and refuses empty ones', () => {
    expect(identifier('events').text).toBe('`events`');
    expect(identifier('we`ird\\name').text).toBe('`we\\`ird\\\\name`');
    expect(() => identifier('')).toThrow(SqlValueError);
  });

  it('nests fragments as SQL and joins them', () => {
    const where = sql`workspace = ${'w'}`;
    expect(sql`SELECT 1 WHERE ${where}`.text).toBe(`SELECT 1 WHERE workspace = 'w'`);
    expect(join([identifier('a'), identifier('b')]).text).toBe('`a`, `b`');
  });
});
