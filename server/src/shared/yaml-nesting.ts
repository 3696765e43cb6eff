/**
 * How deep YAML text nests its flow collections (`[...]`, `{...}`), read before the YAML parser
 * sees it. The parser recurses per level: 100,000 levels (a 200 KB body) exhausted the stack and
 * then V8's regular-expression compiler, a fatal error that ended the process (no exception to
 * catch). Quoted scalars and comments are skipped; a bracket in a plain scalar counts, which can
 * only make the estimate deeper, never shallower.
 */

/** The 1-based line of the first flow collection nested deeper than `max`, or undefined. */
export function yamlTooDeep(text: string, max: number): number | undefined {
  let depth = 0;
  let line = 1;
  let quote: '"' | "'" | undefined;
  let comment = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '\n') {
      line += 1;
      comment = false;
      continue;
    }
    if (comment) continue;
    if (quote === '"') {
      if (char === '\\') i += 1;
      else if (char === '"') quote = undefined;
      continue;
    }
    if (quote === "'") {
      // '' is an escaped quote inside a single-quoted scalar.
      if (char === "'" && text[i + 1] === "'") i += 1;
      else if (char === "'") quote = undefined;
      continue;
    }
    if (char === '"' || char === "'") quote = char;
    else if (char === '#' && (i === 0 || /\s/.test(text[i - 1]))) comment = true;
    else if (char === '[' || char === '{') {
      depth += 1;
      if (depth > max) return line;
    } else if ((char === ']' || char === '}') && depth > 0) depth -= 1;
  }
  return undefined;
}
