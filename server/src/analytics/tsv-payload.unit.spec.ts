/** The sink thread's payload writer: the bytes of the TabSeparated text the string path writes. */
import { HOSTILE } from './hostile-values.fixture';
import { toDateTimeText } from './sql';
import { TsvPayload } from './tsv-payload';

const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const tsvText = (value: string) => value.replace(/[\\\t\n\r]/g, (char) => ESCAPES[char]);
const bytes = (payload: TsvPayload) => Buffer.from(payload.bytes());

describe('TsvPayload', () => {
  it('escapes text as ClickHouse reads it, whatever the characters and where the first non-ASCII one is', () => {
    const values = [...HOSTILE, 'a\\b\tc é\\d\ne\rf', 'é\\', '\\é\t', 'lone \ud800 surrogate', '\udc00', '🚀\\🚀', 'plain'];
    const payload = new TsvPayload(16);
    payload.startRow();
    for (const value of values) payload.text(value);
    expect(bytes(payload)).toEqual(Buffer.from(values.map(tsvText).join('\t')));
  });

  it('escapes only the backslashes of JSON text, and writes numbers and raw text as `${}` does', () => {
    const json = [JSON.stringify({ a: 'x\\y "q" é \u2028', b: [1, null] }), JSON.stringify('\\'), '', '{}'];
    const numbers = [0, 7, 9, 10, 99, 100, 1234567890, 1_772_445_605_123, Number.MAX_SAFE_INTEGER, 2 ** 53, -1, 1.5, 1e21, -0];
    const raw = ["['a','b\\'c']", '[]', 'zürich'];
    const payload = new TsvPayload(8);
    payload.startRow();
    for (const text of json) payload.json(text);
    payload.startRow();
    for (const n of numbers) payload.number(n);
    payload.startRow();
    for (const text of raw) payload.raw(text);
    const expected = [json.map((text) => text.replace(/\\/g, '\\\\')).join('\t'), numbers.map((n) => `${n}`).join('\t'), raw.join('\t')].join('\n');
    expect(payload.rows).toBe(3);
    expect(bytes(payload)).toEqual(Buffer.from(expected));
  });

  it('writes DateTime as toDateTimeText does, from 1970 to the end of DateTime', () => {
    const times = [0, 999, 1000, 59_999, 3_599_999, 86_399_999, 86_400_000, 4_294_967_295_000, Date.parse('2024-02-29T12:34:56.789Z')];
    let seed = 11;
    for (let i = 0; i < 2000; i++) times.push((seed = (seed * 48271) % 2147483647) * 2000);
    const payload = new TsvPayload(10);
    payload.startRow();
    for (const ms of times) payload.dateTime(ms);
    expect(bytes(payload).toString('latin1')).toBe(times.map((ms) => toDateTimeText(new Date(ms))).join('\t'));
  });

  it('writes into the memory it is given when that is large enough', () => {
    const spare = new ArrayBuffer(4096);
    const payload = new TsvPayload(1000, spare);
    payload.startRow();
    payload.text('x');
    expect(payload.bytes().buffer).toBe(spare);
    expect(new TsvPayload(8192, spare).bytes().buffer).not.toBe(spare);
  });
});
