/**
 * The package is pure (docs: README "What runs where", DESIGN principle 6): no I/O and no clock, so
 * the server, the CLI, the simulator and the tests run the same decisions. This reads the package's
 * own source and fails on an import of anything but its own files and zod, or on a read of the
 * clock, of randomness or of the process.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = __dirname;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [path] : [];
  });
}

/** The code without its comments and string contents, so prose about `Date.now()` does not count. */
function codeOf(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:])\/\/.*$/gm, '$1')
    .replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"/g, "''");
}

const FORBIDDEN: Array<[string, RegExp]> = [
  ['reads the clock', /\bDate\.now\s*\(|\bnew Date\s*\(\s*\)|\bperformance\.now\s*\(|\bprocess\.hrtime\b/],
  ['draws random numbers', /\bMath\.random\s*\(|\bcrypto\.getRandomValues\b|\brandomUUID\b/],
  ['touches the process or the console', /\bprocess\.|\bconsole\./],
  ['schedules work', /\bset(?:Timeout|Interval|Immediate)\s*\(|\bqueueMicrotask\s*\(/],
  ['does I/O', /\bfetch\s*\(|\brequire\s*\(|\bXMLHttpRequest\b|\bWebSocket\b/],
];

describe('the projections package is pure', () => {
  const files = sourceFiles(root);

  it('has source files to check', () => {
    expect(files.length).toBeGreaterThan(20);
  });

  it('imports only its own files and zod', () => {
    const imports = files.flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/\bfrom\s+'([^']+)'|\bimport\s+'([^']+)'|\bimport\s*\(\s*'([^']+)'/g)]
        .map((m) => m[1] ?? m[2] ?? m[3])
        .filter((name) => !name.startsWith('./') && !name.startsWith('../') && name !== 'zod')
        .map((name) => `${relative(root, file)}: ${name}`),
    );
    expect(imports).toEqual([]);
  });

  it('never reads the clock, randomness or the process, and schedules nothing', () => {
    const found = files.flatMap((file) => {
      const code = codeOf(readFileSync(file, 'utf8'));
      return FORBIDDEN.filter(([, pattern]) => pattern.test(code)).map(([what]) => `${relative(root, file)} ${what}`);
    });
    expect(found).toEqual([]);
  });
});
