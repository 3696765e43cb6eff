/**
 * Untrusted JSON-like input (parsed JSON or YAML) before anything walks it recursively: how deep it
 * nests, and a plain deep copy of it. A body nested thousands of levels deep is valid JSON and
 * parses (iteratively), but overflows the stack of any recursive walk (JSON.stringify, a deep copy,
 * a validator): it must be refused first, with a path, as a 400.
 */

/** Objects and arrays nested deeper than this are refused in definitions and tracked events. */
export const MAX_NESTING = 64;

/**
 * The path of the first object or array nested deeper than `max` levels (the top level is 1), or
 * undefined when there is none. Iterative, so any depth is safe to ask about.
 */
export function tooDeeplyNested(value: unknown, max = MAX_NESTING): string | undefined {
  // Every tracked event is asked: the common answer (no) is found without building any path.
  return nestsDeeper(value, max) ? firstPathDeeper(value, max) : undefined;
}

function nestsDeeper(value: unknown, max: number): boolean {
  const values: unknown[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const item = values.pop();
    const depth = depths.pop()!;
    if (typeof item !== 'object' || item === null || item instanceof Date) continue;
    if (depth > max) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (typeof child === 'object' && child !== null) {
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

function firstPathDeeper(value: unknown, max: number): string | undefined {
  const stack: Array<{ value: unknown; depth: number; path: string }> = [{ value, depth: 1, path: '' }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (typeof item.value !== 'object' || item.value === null || item.value instanceof Date) continue;
    if (item.depth > max) return item.path;
    if (Array.isArray(item.value)) {
      item.value.forEach((child, index) => stack.push({ value: child, depth: item.depth + 1, path: `${item.path}[${index}]` }));
    } else {
      for (const [key, child] of Object.entries(item.value)) {
        stack.push({ value: child, depth: item.depth + 1, path: item.path ? `${item.path}.${key}` : key });
      }
    }
  }
  return undefined;
}

/** The problem to report for input nested too deeply, at its path. */
export function nestingProblem(path: string, max = MAX_NESTING): { path: string; message: string } {
  return { path, message: `nests objects and arrays more than ${max} levels deep` };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A deep copy of JSON-like input with YAML dates as ISO strings, so the result shares nothing with
 * the input. Recursive: check `tooDeeplyNested` first.
 */
export function toPlain(value: unknown): unknown {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? value : toIsoText(value);
  if (Array.isArray(value)) return value.map(toPlain);
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, toPlain(item)]));
  return value;
}

/** A YAML date at midnight UTC was written as a date; keep it one. */
function toIsoText(date: Date): string {
  const iso = date.toISOString();
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
}
