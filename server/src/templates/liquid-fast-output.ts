/**
 * A direct path for the commonest Liquid outputs, `{{ user.first_name }}` and
 * `{{ user.first_name | default: 'there' }}` (with the escape filter that HTML output adds).
 *
 * liquidjs evaluates every output through a chain of generators (the output, its value, the
 * expression, the property access, each filter, each scope read), and every step allocates: a
 * render of an example email allocated about 220 KB for 11 KB of HTML, 60% of everything the event
 * loop allocated in bench:send, and its garbage collection cost more CPU than the render itself.
 * Static HTML between tags went through a generator too.
 *
 * Only values liquidjs would read the same way take the direct path: own properties of plain
 * objects along the path (no drops, arrays, `size`/`first`/`last`, functions or `toLiquid`), and a
 * final string or number. Anything else (an unset variable, another filter, another type) is
 * evaluated by liquidjs itself, so its results, strictness and errors are unchanged.
 */
import { type Context, type Emitter, Liquid, Output, type Template as LiquidTemplate, TypeGuards } from 'liquidjs';

type Path = string[];

/** How an output is written directly: read `path`, maybe replace an empty string, maybe escape. */
interface Plan {
  path: Path;
  /** `| default: <literal or path>`. */
  fallback?: { literal: string | number } | { path: Path };
  escape: boolean;
}

const MISS = Symbol('miss');
/** Off: every output goes through liquidjs (the tests compare both ways). */
let enabled = true;

export function setDirectOutput(on: boolean): void {
  enabled = on;
}
const plans = new WeakMap<Output, Plan | null>();

interface FilterLike {
  handler: unknown;
  args: unknown[];
}

/** `a.b['c']`: a property path of names only (no variable lookups inside brackets, no ranges). */
function pathOf(token: unknown): Path | undefined {
  if (!TypeGuards.isPropertyAccessToken(token) || token.variable || token.props.length === 0) return undefined;
  const path: Path = [];
  for (const prop of token.props) {
    if (!TypeGuards.isWordToken(prop) && !TypeGuards.isQuotedToken(prop)) return undefined;
    path.push(prop.content);
  }
  return path;
}

function planOf(output: Output, liquid: Liquid): Plan | null {
  const postfix = (output.value.initial as unknown as { postfix: unknown[] }).postfix;
  if (postfix.length !== 1) return null;
  const path = pathOf(postfix[0]);
  if (!path) return null;
  const filters = output.value.filters as unknown as FilterLike[];
  let i = 0;
  let fallback: Plan['fallback'];
  if (filters[i]?.handler === liquid.filters.default && filters[i].args.length === 1) {
    const arg = filters[i].args[0];
    if (Array.isArray(arg)) return null;
    const argPath = pathOf(arg);
    if (argPath) fallback = { path: argPath };
    else if (TypeGuards.isQuotedToken(arg)) fallback = { literal: arg.content };
    else return null;
    i += 1;
  }
  let escape = false;
  if (filters[i]?.handler === liquid.filters.escape && filters[i].args.length === 0) {
    escape = true;
    i += 1;
  }
  return i === filters.length ? { path, fallback, escape } : null;
}

/** What liquidjs's `_get(path)` returns, when it would read only own properties of plain objects; else MISS. */
function read(ctx: Context, path: Path): unknown {
  // The scope liquidjs reads the first name from (innermost loop or assignment scope, the render's variables, globals).
  let value: unknown = (ctx as unknown as { findScope(key: string): object }).findScope(path[0]);
  for (const key of path) {
    if (value === null || typeof value !== 'object') return MISS;
    const proto = Object.getPrototypeOf(value);
    if ((proto !== Object.prototype && proto !== null) || key === 'size' || key === 'first' || key === 'last') return MISS;
    if (typeof (value as { toLiquid?: unknown }).toLiquid === 'function' || !Object.prototype.hasOwnProperty.call(value, key)) return MISS;
    value = (value as Record<string, unknown>)[key];
    if (typeof value === 'function') return MISS;
  }
  return value;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };

/** The text the output writes, or MISS when liquidjs must evaluate it. */
function direct(plan: Plan, ctx: Context): string | typeof MISS {
  let value = read(ctx, plan.path);
  if (typeof value !== 'string' && typeof value !== 'number') return MISS;
  if (plan.fallback) {
    // liquidjs evaluates the argument whether or not it is used (strictly: an unset one fails).
    const other = 'path' in plan.fallback ? read(ctx, plan.fallback.path) : plan.fallback.literal;
    if (typeof other !== 'string' && typeof other !== 'number') return MISS;
    // `default` replaces an empty string; a number is never empty (nor falsy, unless jsTruthy).
    if (typeof value === 'number' && ctx.opts.jsTruthy) return MISS;
    if (value === '') value = other;
  }
  const text = String(value);
  if (!plan.escape) return text;
  ctx.memoryLimit.use(text.length);
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const liquidRender = Output.prototype.render;
if (!(liquidRender as { heraldDirect?: boolean }).heraldDirect) {
  Output.prototype.render = Object.assign(
    function render(this: Output, ctx: Context, emitter: Emitter) {
      let plan = enabled ? plans.get(this) : null;
      if (plan === undefined) plans.set(this, (plan = planOf(this, ctx.liquid)));
      if (plan) {
        const text = direct(plan, ctx);
        if (text !== MISS) {
          emitter.write(text);
          // Not a generator: liquidjs takes a plain return value as it comes.
          return undefined as unknown as Generator<unknown, void, unknown>;
        }
      }
      return liquidRender.call(this, ctx, emitter);
    },
    { heraldDirect: true },
  );
}

/** Static HTML between tags is written as it is, without a generator. */
const html = new Liquid().parse('<p>')[0] as LiquidTemplate & { str: string };
const htmlPrototype = Object.getPrototypeOf(html) as { render: ((ctx: Context, emitter: Emitter) => unknown) & { heraldDirect?: boolean } };
const htmlRender = htmlPrototype.render;
if (!htmlRender.heraldDirect) {
  htmlPrototype.render = Object.assign(
    function render(this: { str: string }, ctx: Context, emitter: Emitter) {
      if (!enabled) return htmlRender.call(this, ctx, emitter);
      emitter.write(this.str);
    },
    { heraldDirect: true },
  );
}
