/**
 * `{{ user.email }}` / `{{ trigger.order_id }}` placeholders in webhook URLs, headers and bodies.
 * A string that is exactly one placeholder takes the value as it is (a number stays a number);
 * inside a longer string it is written as text. A missing value is empty (or null when whole).
 */
import { valueAtPath } from '../segments';

const PLACEHOLDER = /\{\{\s*([a-zA-Z_][\w.]*)\s*\}\}/g;
const WHOLE = /^\{\{\s*([a-zA-Z_][\w.]*)\s*\}\}$/;

export type PlaceholderScope = Record<string, Record<string, unknown>>;

function lookup(path: string, scope: PlaceholderScope): unknown {
  const [root, ...rest] = path.split('.');
  const base = scope[root];
  if (base === undefined) return undefined;
  return rest.length === 0 ? base : valueAtPath(base, rest.join('.'));
}

export function fillPlaceholders(value: unknown, scope: PlaceholderScope): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE.exec(value);
    if (whole) return lookup(whole[1], scope) ?? null;
    return value.replace(PLACEHOLDER, (_, path: string) => {
      const found = lookup(path, scope);
      return found === undefined || found === null ? '' : typeof found === 'object' ? JSON.stringify(found) : String(found);
    });
  }
  if (Array.isArray(value)) return value.map((item) => fillPlaceholders(item, scope));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, fillPlaceholders(item, scope)]));
  }
  return value;
}

/** For URLs and header values: always text, with values URL-encoded in URLs. */
export function fillText(text: string, scope: PlaceholderScope, encode: (part: string) => string = (part) => part): string {
  return text.replace(PLACEHOLDER, (_, path: string) => {
    const found = lookup(path, scope);
    return found === undefined || found === null ? '' : encode(typeof found === 'object' ? JSON.stringify(found) : String(found));
  });
}
