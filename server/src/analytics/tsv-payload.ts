/**
 * A batch of TabSeparated rows written field by field as UTF-8 straight into one buffer: the sink
 * thread's payload. Its bytes are what `Buffer.from(lines.join('\n'))` gives for the same rows as
 * `eventRowTsv` lines (event-rows.ts), without building each line as a string first: the line's
 * concatenation allocated about 1.5 KB per row and its encoding flattened it once more, which the
 * thread paid for in garbage collection.
 *
 * Short text is copied a character at a time while it is ASCII (a call into Node's UTF-8 encoder per
 * column cost twice as much), the rest of a string with other characters goes through the encoder,
 * escaped the same way; long JSON text goes through the encoder whole.
 */
import { dayText, tsv as escapeTsv } from './event-rows';

const TAB = 0x09;
const LINE_FEED = 0x0a;
const BACKSLASH = 0x5c;

export class TsvPayload {
  private buffer: Buffer;
  private length = 0;
  private fieldsInRow = 0;
  rows = 0;

  /** `spare`: memory of an earlier payload to write into, if it is large enough. */
  constructor(capacity: number, spare?: ArrayBuffer) {
    this.buffer = spare && spare.byteLength >= capacity ? Buffer.from(spare) : Buffer.allocUnsafeSlow(Math.max(capacity, 1024));
  }

  /** Starts a row (a line feed after the previous one). */
  startRow(): void {
    this.ensure(1);
    if (this.rows > 0) this.buffer[this.length++] = LINE_FEED;
    this.rows += 1;
    this.fieldsInRow = 0;
  }

  /** A String column: backslash, tab, line feed and carriage return escaped as ClickHouse reads them. */
  text(value: string): void {
    const n = value.length;
    // At most 3 bytes per UTF-16 unit, escapes included, and the tab before the field.
    let at = this.field(n * 3);
    const b = this.buffer;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x20 && c < 0x80 && c !== BACKSLASH) b[at++] = c;
      else if (c >= 0x80) {
        this.length = at + b.write(escapeTsv(value.slice(i)), at, 'utf8');
        return;
      } else if (c === BACKSLASH) {
        b[at++] = BACKSLASH;
        b[at++] = BACKSLASH;
      } else if (c === TAB || c === LINE_FEED || c === 0x0d) {
        b[at++] = BACKSLASH;
        b[at++] = c === TAB ? 0x74 : c === LINE_FEED ? 0x6e : 0x72;
      } else b[at++] = c;
    }
    this.length = at;
  }

  /**
   * JSON text: it holds no raw tab or line break, so only its backslashes are escaped. Long (the
   * event's data and metadata), so Node's encoder: 0.2 µs per row for both against 0.6 a character at a time.
   */
  json(value: string): void {
    const at = this.field(value.length * 3);
    if (value.length > 0) this.length = at + this.buffer.write(value.includes('\\') ? value.replace(/\\/g, '\\\\') : value, at, 'utf8');
  }

  /** Text that needs no escaping (already escaped, or made of digits and punctuation). */
  raw(value: string): void {
    const n = value.length;
    let at = this.field(n * 3);
    const b = this.buffer;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) {
        this.length = at + b.write(value.slice(i), at, 'utf8');
        return;
      }
      b[at++] = c;
    }
    this.length = at;
  }

  /** A number as `${value}` writes it; non-negative safe integers without a string. */
  number(value: number): void {
    if (!(value >= 0 && value <= Number.MAX_SAFE_INTEGER && Math.floor(value) === value)) return this.raw(`${value}`);
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    let at = this.field(digits) + digits;
    this.length = at;
    let rest = value;
    do {
      const next = Math.floor(rest / 10);
      this.buffer[--at] = 0x30 + (rest - next * 10);
      rest = next;
    } while (rest > 0);
  }

  /** A DateTime as `toDateTimeText(new Date(ms))` writes it, for 0 <= ms < 2^32 s (the clamped range). */
  dateTime(ms: number): void {
    const second = Math.floor(ms / 1000);
    const day = Math.floor(second / 86_400);
    this.raw(dayText(day));
    const time = second - day * 86_400;
    const hour = Math.floor(time / 3600);
    const minute = Math.floor(time / 60) - hour * 60;
    const b = this.buffer;
    let at = this.length;
    at = twoDigits(b, at, hour);
    b[at++] = 0x3a;
    at = twoDigits(b, at, minute);
    b[at++] = 0x3a;
    this.length = twoDigits(b, at, time - hour * 3600 - minute * 60);
  }

  /** The rows written so far, as a view of the buffer (whose memory may be handed on). */
  bytes(): Uint8Array {
    return new Uint8Array(this.buffer.buffer, this.buffer.byteOffset, this.length);
  }

  /** Room for a field of up to `most` bytes (and 8 more, for what `dateTime` writes after its day), after its tab. */
  private field(most: number): number {
    this.ensure(most + 9);
    if (this.fieldsInRow++ > 0) this.buffer[this.length++] = TAB;
    return this.length;
  }

  private ensure(bytes: number): void {
    const needed = this.length + bytes;
    if (needed <= this.buffer.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(needed, this.buffer.length * 2));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
}

function twoDigits(b: Buffer, at: number, value: number): number {
  const tens = Math.floor(value / 10);
  b[at] = 0x30 + tens;
  b[at + 1] = 0x30 + (value - tens * 10);
  return at + 2;
}

