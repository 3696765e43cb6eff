/**
 * The one way SQL text is built for ClickHouse. ClickHouse 18.16 has no server-side query
 * parameters, so every value is escaped here, on the client, by type: `sql\`... ${value}\`` turns
 * strings, numbers, booleans, dates, arrays and null into literals, and names (tables, columns) go
 * through `identifier()`. A plain string is never spliced into SQL as code.
 */

const SQL = Symbol('sql');

/** A piece of SQL whose values are already escaped. Only `sql`, `identifier` and `join` make one. */
export interface Sql {
  readonly [SQL]: true;
  readonly text: string;
}

export type SqlValue = string | number | bigint | boolean | Date | null | undefined | Sql | readonly SqlValue[];

export class SqlValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SqlValueError';
  }
}

function fragment(text: string): Sql {
  return { [SQL]: true, text };
}

export function isSql(value: unknown): value is Sql {
  return typeof value === 'object' && value !== null && (value as Sql)[SQL] === true;
}

/** Tagged template: `sql\`SELECT count() FROM events WHERE workspace = ${workspace}\``. */
export function sql(strings: TemplateStringsArray, ...values: SqlValue[]): Sql {
  let text = strings[0];
  for (let i = 0; i < values.length; i++) text += literal(values[i]) + strings[i + 1];
  return fragment(text);
}

/** A table or column name, back-quoted (any character is allowed inside). */
export function identifier(name: string): Sql {
  if (typeof name !== 'string' || name.length === 0) throw new SqlValueError('An identifier must be a non-empty string');
  return fragment('`' + escapeChars(name, '`') + '`');
}

/** Joins fragments with a separator (`, ` by default), e.g. for column lists. */
export function join(parts: readonly Sql[], separator = ', '): Sql {
  return fragment(parts.map((part) => part.text).join(separator));
}

/** SQL text written in this codebase, not built from input (schema statements). */
export function trusted(text: string): Sql {
  return fragment(text);
}

export function literal(value: SqlValue): string {
  if (value === null || value === undefined) return 'NULL';
  if (isSql(value)) return value.text;
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new SqlValueError(`Cannot put ${value} into SQL: only finite numbers`);
    // Parenthesised so a negative number after a minus sign cannot become a comment (`--1`).
    return value < 0 || Object.is(value, -0) ? `(${value})` : String(value);
  }
  if (typeof value === 'bigint') return value < 0n ? `(${value})` : String(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new SqlValueError('Cannot put an invalid Date into SQL');
    // Second precision, in UTC whatever the server's time zone is.
    return `toDateTime(${quote(toDateTimeText(value))}, 'UTC')`;
  }
  if (Array.isArray(value)) return `[${value.map((item) => literal(item)).join(', ')}]`;
  throw new SqlValueError(`Cannot put a value of type ${typeof value} into SQL`);
}

/** `YYYY-MM-DD hh:mm:ss` in UTC: the DateTime text both engines parse without best-effort mode. */
export function toDateTimeText(date: Date): string {
  return date.toISOString().slice(0, 19).replace('T', ' ');
}

function quote(text: string): string {
  return `'${escapeChars(text, "'")}'`;
}

/** ClickHouse's escapes inside quoted strings and back-quoted names: the quote, backslash and control characters. */
function escapeChars(text: string, quoteChar: "'" | '`'): string {
  let out = '';
  for (const char of text) {
    switch (char) {
      case '\\':
        out += '\\\\';
        break;
      case quoteChar:
        out += '\\' + quoteChar;
        break;
      case '\0':
        out += '\\0';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\t':
        out += '\\t';
        break;
      case '\b':
        out += '\\b';
        break;
      case '\f':
        out += '\\f';
        break;
      default: {
        const code = char.codePointAt(0)!;
        // Other control characters as \xHH, so the SQL text stays printable in logs.
        out += code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : char;
      }
    }
  }
  return out;
}
