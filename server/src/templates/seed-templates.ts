/**
 * First start: a workspace that never had templates gets the example ones, so the example
 * scenarios run as they are. One append for all of them; a workspace whose templates stream exists
 * (even if every template was deleted since) is left alone.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WrongExpectedRevisionError } from '../event-store/errors';
import { InvalidDefinitionError } from '../http/http-errors';
import { parseTemplateFile, type ParsedInput } from './template';
import type { TemplateStore } from './template-store';

/** `examples/templates/` of the repository, from both `src/templates` and `dist/templates`. */
export const EXAMPLE_TEMPLATES_DIR = join(__dirname, '..', '..', '..', 'examples', 'templates');

export function readTemplateDir(dir: string): Array<{ id: string; parsed: ParsedInput }> {
  const templates: Array<{ id: string; parsed: ParsedInput }> = [];
  for (const file of readdirSync(dir).sort()) {
    if (!/\.(mjml|liquid)$/.test(file)) continue;
    const result = parseTemplateFile(file, readFileSync(join(dir, file), 'utf8'));
    if (!result.ok) throw new InvalidDefinitionError(`template file ${file}`, result.problems);
    templates.push({ id: result.id, parsed: result.parsed });
  }
  return templates;
}

/**
 * Saves every template file of `dir` when the workspace has never had templates; returns the ids
 * saved. A missing folder (an install without the examples) seeds nothing.
 */
export async function seedTemplates(store: TemplateStore, workspace: string, dir: string = EXAMPLE_TEMPLATES_DIR): Promise<string[]> {
  if (!existsSync(dir) || (await store.read(workspace)).revision >= 0) return [];
  try {
    return await store.seed(workspace, readTemplateDir(dir));
  } catch (error) {
    // Another process seeded (or saved a template) first: that one wins.
    if (error instanceof WrongExpectedRevisionError) return [];
    throw error;
  }
}
