/**
 * Compiling a template version once, so a recipient costs only Liquid renders:
 * - MJML is compiled to HTML with the Liquid still in it. MJML drops text between components and
 *   may touch attribute values, so every Liquid tag and output is swapped for a placeholder first
 *   (an HTML comment where MJML keeps comments in place, a plain word inside markup) and put back
 *   after; a tag MJML dropped or moved is a problem at publish, with its line and column.
 * - The text part, when the template has none, is converted from that compiled HTML with the Liquid
 *   protected the same way, so links keep their `{{ ... }}` URLs and the text is rendered per
 *   recipient like the HTML.
 * - Liquid runs with strict variables: a variable that is not set fails the render unless it is
 *   guarded (`| default: ...`, or the condition of an `if`/`unless`), so nothing half-rendered goes
 *   out. Output into HTML is escaped (`| raw` opts out); subject and text are not.
 */
import {
  type Context,
  Expression,
  Liquid,
  LiquidError,
  type Template as LiquidTemplate,
  type Token,
  Tokenizer,
  type TopLevelToken,
  toValueSync,
  TypeGuards,
  Value,
} from 'liquidjs';
import mjml2html from 'mjml';
import { htmlToMarkedText } from './html-to-text';
// Writes the commonest outputs without liquidjs's generators (see there); the results are the same.
import './liquid-fast-output';
import type { Problem, TemplateContent } from './template';

/**
 * What one render may allocate, in liquidjs's units: characters of filter results and escaped
 * output, array elements (a range `(a..b)` counts b - a + 1 before it is built). The example
 * emails use a few hundred. liquidjs builds a range the limit allows before any other check, so the
 * limit also bounds how long a range loop holds the event loop (a million steps: about half a
 * second); at 1e8 a `(1..100000000)` took 10-20 s and 2 GB before the render limit stopped it.
 */
export const MEMORY_LIMIT = 1_000_000;

const LIQUID_OPTIONS = {
  strictVariables: true,
  // Lets `default` rescue an unset variable and `if` test one; a bare `{{ user.missing }}` still fails.
  lenientIf: true,
  strictFilters: true,
  ownPropertyOnly: true,
  // No partials from the file system: `include`/`render` find nothing.
  templates: {},
  // Bounds on what one template may cost, against runaway loops in an admin's template.
  parseLimit: 2_000_000,
  renderLimit: 2_000,
  memoryLimit: MEMORY_LIMIT,
};

/*
 * With strict variables, liquidjs throws and catches an exception for every unset variable read
 * under `default` or in an `if`: about 40 µs each, more than all the rest of an email's render.
 * Those reads are lenient anyway (the unset variable reads as empty), so they run with strictness
 * off: the same result without the exception. Reads anywhere else stay strict.
 */
const strictEvaluate = Expression.prototype.evaluate;
if (!(strictEvaluate as { heraldLenient?: boolean }).heraldLenient) {
  const lenientEvaluate = function* (this: Expression, ctx: Context, lenient: boolean): Generator<unknown, unknown, unknown> {
    if (!lenient || !ctx.strictVariables) return yield* strictEvaluate.call(this, ctx, lenient);
    ctx.strictVariables = false;
    try {
      return yield* strictEvaluate.call(this, ctx, lenient);
    } finally {
      ctx.strictVariables = true;
    }
  };
  Expression.prototype.evaluate = Object.assign(lenientEvaluate, { heraldLenient: true });
}

/** Subject, text, SMS and push bodies, URLs: plain text, nothing escaped. */
export const textLiquid = new Liquid(LIQUID_OPTIONS);
/** Email HTML: every output is HTML-escaped, so a trait cannot inject markup. */
export const htmlLiquid = new Liquid({ ...LIQUID_OPTIONS, outputEscape: 'escape' });

export interface CompiledTemplate {
  subject?: LiquidTemplate[];
  /** The email's HTML (mjml templates). */
  html?: LiquidTemplate[];
  /** That HTML as MJML compiled it, Liquid still in it. */
  htmlSource?: string;
  /** The text: a liquid body, an mjml template's own `text`, or converted from its HTML. */
  text?: LiquidTemplate[];
  /** The text is converted from each rendered HTML (when the converted template did not parse). */
  textFromRenderedHtml: boolean;
  /** The text part was converted from the HTML: its line breaks are resolved after each render. */
  textGenerated: boolean;
  url?: LiquidTemplate[];
  /** How long the MJML compile took (ms), for the benchmark's notes. */
  mjmlMs?: number;
}

export type CompileResult = { ok: true; compiled: CompiledTemplate } | { ok: false; problems: Problem[] };

/** Compiles (and so validates) a template. `bodyLineOffset` counts front matter lines, so problems point into the file. */
export async function compileTemplate(content: TemplateContent, bodyLineOffset = 0): Promise<CompileResult> {
  const problems: Problem[] = [];
  const part = (path: 'subject' | 'text' | 'url', source: string | undefined) => {
    if (source === undefined) return undefined;
    const parsed = parseLiquid(textLiquid, source, path, 0);
    if ('problem' in parsed) problems.push(parsed.problem);
    else return parsed.templates;
    return undefined;
  };
  const compiled: CompiledTemplate = {
    subject: part('subject', content.subject),
    url: part('url', content.url),
    text: part('text', content.text),
    textFromRenderedHtml: false,
    textGenerated: false,
  };
  if (content.format === 'liquid') {
    const body = parseLiquid(textLiquid, content.body, 'body', bodyLineOffset);
    if ('problem' in body) problems.push(body.problem);
    else compiled.text = body.templates;
    return problems.length > 0 ? { ok: false, problems } : { ok: true, compiled };
  }

  // Liquid errors first, against the source as written (MJML would move the positions).
  const checked = parseLiquid(htmlLiquid, content.body, 'body', bodyLineOffset);
  if ('problem' in checked) return { ok: false, problems: [...problems, checked.problem] };
  const started = performance.now();
  const mjml = await compileMjml(content.body, bodyLineOffset);
  compiled.mjmlMs = performance.now() - started;
  if ('problems' in mjml) return { ok: false, problems: [...problems, ...mjml.problems] };
  compiled.html = mjml.templates;
  compiled.htmlSource = mjml.html;
  if (compiled.text === undefined) {
    const text = convertToTextTemplate(mjml.html);
    compiled.textGenerated = true;
    if (text) compiled.text = text;
    else compiled.textFromRenderedHtml = true;
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, compiled };
}

function parseLiquid(engine: Liquid, source: string, path: string, lineOffset: number): { templates: LiquidTemplate[] } | { problem: Problem } {
  let templates: LiquidTemplate[];
  try {
    templates = engine.parse(source);
  } catch (error) {
    return { problem: liquidProblem(error, path, lineOffset) };
  }
  const range = oversizedRange(templates);
  if (range) {
    const [line, column] = range.token.getPosition();
    const message = `the range ${range.token.getText()} has ${range.size} items, more than one render may allocate (memory limit ${MEMORY_LIMIT})`;
    return { problem: { path, message: `line ${line + lineOffset}, column ${column}: ${message}` } };
  }
  return { templates };
}

/**
 * The first range with literal bounds, `(1..100000000)`, that is over the memory limit on its own,
 * so every render that reaches it fails: refused at publish rather than at each send. Ranges with a
 * variable bound are left to the limit at render.
 */
function oversizedRange(templates: LiquidTemplate[]): { token: Token; size: number } | undefined {
  // A stack, in source order, so the range reported is the first one.
  const nodes = [...templates].reverse();
  const tokens: unknown[] = [];
  const addValue = (value: { initial: Expression; filters: Array<{ args: unknown[] }> }) => {
    tokens.push(...value.initial.postfix);
    for (const filter of value.filters) for (const arg of filter.args) tokens.push(Array.isArray(arg) ? arg[1] : arg);
  };
  for (let node = nodes.pop(); node; node = nodes.pop()) {
    for (const argument of node.arguments?.() ?? []) {
      if (argument instanceof Value) addValue(argument);
      else tokens.push(argument);
    }
    for (let token = tokens.pop(); token !== undefined; token = tokens.pop()) {
      if (TypeGuards.isFilteredValueToken(token)) addValue(token);
      else if (TypeGuards.isRangeToken(token)) {
        const { lhs, rhs } = token;
        if (TypeGuards.isNumberToken(lhs) && TypeGuards.isNumberToken(rhs)) {
          const size = Number(rhs.content) - Number(lhs.content) + 1;
          if (size > MEMORY_LIMIT) return { token, size };
        }
        tokens.push(lhs, rhs);
      }
    }
    // No partials here (false): there are none, and a child is only this template's own.
    if (node.children) nodes.push(...[...(toValueSync(node.children(false, true)) as LiquidTemplate[])].reverse());
  }
  return undefined;
}

function liquidProblem(error: unknown, path: string, lineOffset: number): Problem {
  if (error instanceof LiquidError && error.token) {
    const [line, column] = error.token.getPosition();
    const message = error.message.replace(/, line:\d+, col:\d+$/, '');
    return { path, message: `line ${line + lineOffset}, column ${column}: ${message}` };
  }
  return { path, message: `line ${1 + lineOffset}, column 1: ${(error as Error).message}` };
}

// ---- MJML ----------------------------------------------------------------------------------------

interface LiquidToken {
  text: string;
  tag: boolean;
  begin: number;
  line: number;
  column: number;
  /** Inside an HTML/MJML tag's markup (an attribute value), where a comment would not be one. */
  inMarkup: boolean;
}

async function compileMjml(body: string, lineOffset: number): Promise<{ html: string; templates: LiquidTemplate[] } | { problems: Problem[] }> {
  const at = (line: number, column: number) => `line ${line + lineOffset}, column ${column}`;
  const tokens = liquidTokens(body);
  const blanked = blankOut(body, tokens);
  const structure = checkMjmlStructure(blanked);
  if (structure.length > 0) return { problems: structure.map((p) => ({ path: 'body', message: `${at(p.line, p.column)}: ${p.message}` })) };

  let prefix = 'HLQ';
  while (body.includes(prefix)) prefix += 'X';
  let protectedSource = '';
  let cursor = 0;
  tokens.forEach((token, index) => {
    protectedSource += body.slice(cursor, token.begin);
    const mark = `${prefix}${index}Q`;
    // Keep line numbers: a tag spanning lines keeps its newlines inside the comment.
    const newlines = '\n'.repeat(token.text.match(/\n/g)?.length ?? 0);
    protectedSource += token.tag && !token.inMarkup ? `<!--${mark}${newlines}-->` : mark;
    cursor = token.begin + token.text.length;
  });
  protectedSource += body.slice(cursor);

  let output: string;
  try {
    output = (
      await mjml2html(protectedSource, {
        validationLevel: 'strict',
        keepComments: true,
        ignoreIncludes: true,
        // No web fonts unless a template asks for them with mj-font.
        fonts: {},
        minify: false,
        beautify: false,
      })
    ).html;
  } catch (error) {
    const details = (error as { errors?: Array<{ line?: number; message: string; tagName?: string }> }).errors;
    if (Array.isArray(details) && details.length > 0) {
      return {
        problems: details.map((detail) => {
          const line = detail.line ?? 1;
          return { path: 'body', message: `${at(line, columnOfTag(body, line, detail.tagName))}: ${detail.message}` };
        }),
      };
    }
    return { problems: [{ path: 'body', message: `${at(1, 1)}: MJML could not read this: ${(error as Error).message}` }] };
  }

  const seen = new Array<number>(tokens.length).fill(0);
  const pattern = new RegExp(`<!--\\s*${prefix}(\\d+)Q\\s*-->|${prefix}(\\d+)Q`, 'g');
  const html = output.replace(pattern, (_, commented: string | undefined, plain: string | undefined) => {
    const index = Number(commented ?? plain);
    seen[index]++;
    return tokens[index].text;
  });
  const misplaced = tokens.findIndex((token, index) => (token.tag ? seen[index] !== 1 : seen[index] === 0));
  if (misplaced >= 0) {
    const token = tokens[misplaced];
    const what = seen[misplaced] === 0 ? 'MJML drops it there' : 'MJML repeats it there';
    return {
      problems: [
        {
          path: 'body',
          message: `${at(token.line, token.column)}: ${token.text.trim()} cannot stay where it is (${what}); put Liquid inside mj-text, mj-button, mj-raw or an attribute, or around whole components`,
        },
      ],
    };
  }
  try {
    return { html, templates: htmlLiquid.parse(html) };
  } catch (error) {
    // MJML moved a tag away from its partner (e.g. an `if` opened in mj-head, closed in mj-body).
    const first = tokens.find((token) => token.tag) ?? tokens[0];
    const where = first ? at(first.line, first.column) : at(1, 1);
    return { problems: [{ path: 'body', message: `${where}: the Liquid tags do not nest once MJML has laid out the email (${(error as Error).message})` }] };
  }
}

function liquidTokens(source: string): LiquidToken[] {
  const tokens: TopLevelToken[] = new Tokenizer(source, textLiquid.options.operators).readTopLevelTokens(textLiquid.options);
  const result: LiquidToken[] = [];
  const markup = new MarkupScanner();
  for (const token of tokens) {
    if (TypeGuards.isHTMLToken(token)) {
      markup.feed(token.getText());
      continue;
    }
    const [line, column] = token.getPosition();
    result.push({ text: token.getText(), tag: TypeGuards.isTagToken(token), begin: token.begin, line, column, inMarkup: markup.inMarkup() });
  }
  return result;
}

/** Tracks, across the HTML between Liquid tokens, whether we are inside a tag's markup (`<a href="|">`). */
class MarkupScanner {
  private state: 'text' | 'tag' | 'double' | 'single' | 'comment' = 'text';
  private tail = '';

  feed(html: string): void {
    for (let i = 0; i < html.length; i++) {
      const c = html[i];
      switch (this.state) {
        case 'text':
          if (c === '<') {
            const next = html.slice(i + 1, i + 4);
            if (next.startsWith('!--')) {
              this.state = 'comment';
              i += 3;
            } else if (/^[a-zA-Z/!]/.test(next)) this.state = 'tag';
          }
          break;
        case 'tag':
          if (c === '"') this.state = 'double';
          else if (c === "'") this.state = 'single';
          else if (c === '>') this.state = 'text';
          break;
        case 'double':
          if (c === '"') this.state = 'tag';
          break;
        case 'single':
          if (c === "'") this.state = 'tag';
          break;
        case 'comment':
          this.tail = (this.tail + c).slice(-3);
          if (this.tail === '-->') {
            this.state = 'text';
            this.tail = '';
          }
          break;
      }
    }
  }

  inMarkup(): boolean {
    return this.state !== 'text';
  }
}

/** The source with every Liquid token replaced by spaces (newlines kept), so markup checks keep positions. */
function blankOut(source: string, tokens: LiquidToken[]): string {
  let result = source;
  for (const token of tokens) {
    result = result.slice(0, token.begin) + token.text.replace(/[^\n]/g, ' ') + result.slice(token.begin + token.text.length);
  }
  return result;
}

/** MJML components whose content is HTML (read as text by MJML, not as components). */
const ENDING_TAGS = new Set([
  'mj-text', 'mj-button', 'mj-raw', 'mj-table', 'mj-style', 'mj-title', 'mj-preview', 'mj-navbar-link',
  'mj-accordion-title', 'mj-accordion-text', 'mj-social-element', 'mj-carousel-image',
]);

interface Located {
  line: number;
  column: number;
  message: string;
}

/**
 * What MJML's lenient parser lets through silently: no `<mjml>` root, an `mj-include` (it would read
 * the server's files), and an MJML tag left open (everything after it would be swallowed).
 */
function checkMjmlStructure(source: string): Located[] {
  const position = (offset: number) => {
    const before = source.slice(0, offset);
    const line = (before.match(/\n/g)?.length ?? 0) + 1;
    return { line, column: offset - before.lastIndexOf('\n') };
  };
  const first = /\S/.exec(source.replace(/<!--[\s\S]*?-->/g, (c) => c.replace(/[^\n]/g, ' ')));
  if (!first || !source.startsWith('<mjml', first.index)) {
    return [{ ...position(first?.index ?? 0), message: 'an MJML template starts with <mjml>' }];
  }
  const problems: Located[] = [];
  const stack: Array<{ name: string; offset: number }> = [];
  const tag = /<!--[\s\S]*?-->|<(\/?)(mjml|mj-[a-z-]+)\b((?:"[^"]*"|'[^']*'|[^'">])*)>/g;
  for (let match = tag.exec(source); match; match = tag.exec(source)) {
    const [whole, closing, name, rest] = match;
    if (whole.startsWith('<!--')) continue;
    const inEnding = stack.length > 0 && ENDING_TAGS.has(stack[stack.length - 1].name);
    if (name === 'mj-include') {
      problems.push({ ...position(match.index), message: 'mj-include is not supported: a template is one file' });
      continue;
    }
    if (!closing) {
      if (inEnding) {
        const open = stack[stack.length - 1];
        const at = position(open.offset);
        problems.push({ ...at, message: `<${open.name}> is not closed before <${name}> (line ${position(match.index).line})` });
        return problems;
      }
      if (!rest.trimEnd().endsWith('/')) stack.push({ name, offset: match.index });
      continue;
    }
    const open = stack.pop();
    if (!open) {
      problems.push({ ...position(match.index), message: `</${name}> closes nothing` });
      return problems;
    }
    if (open.name !== name) {
      problems.push({ ...position(open.offset), message: `<${open.name}> is closed by </${name}> at line ${position(match.index).line}` });
      return problems;
    }
  }
  const open = stack.pop();
  if (open) problems.push({ ...position(open.offset), message: `<${open.name}> is not closed` });
  return problems;
}

/** MJML reports lines only: point at the first `<tag` on that line. */
function columnOfTag(source: string, line: number, tagName: string | undefined): number {
  const text = source.split('\n')[line - 1] ?? '';
  const index = tagName ? text.indexOf(`<${tagName}`) : -1;
  return index >= 0 ? index + 1 : Math.max(1, text.search(/\S/) + 1);
}

// ---- text part -----------------------------------------------------------------------------------

/**
 * The text part as a Liquid template: the compiled HTML converted to text with its Liquid protected
 * (so an `href="{{ url }}"` becomes `label ({{ url }})`). Undefined when the result does not parse,
 * e.g. an `if` whose two ends sat in different attributes; the renderer then converts each rendered HTML.
 */
function convertToTextTemplate(html: string): LiquidTemplate[] | undefined {
  let tokens: TopLevelToken[];
  try {
    tokens = new Tokenizer(html, textLiquid.options.operators).readTopLevelTokens(textLiquid.options);
  } catch {
    return undefined;
  }
  const saved: string[] = [];
  let protectedHtml = '';
  for (const token of tokens) {
    if (TypeGuards.isHTMLToken(token)) protectedHtml += token.getText();
    // HTML put in unescaped (`| raw`) is markup, which has no place in the text part.
    else protectedHtml += `\uE000${saved.push(token.getText().replace(/(\|\s*raw\s*)(-?\}\})$/, '$1| strip_html $2')) - 1}\uE001`;
  }
  const text = htmlToMarkedText(protectedHtml).replace(/\uE000(\d+)\uE001/g, (_, index: string) => saved[Number(index)]);
  try {
    return textLiquid.parse(text);
  } catch {
    return undefined;
  }
}

