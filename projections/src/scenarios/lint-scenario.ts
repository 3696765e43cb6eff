/**
 * The scenario linter: rejects definitions that are well formed but confusing or harmful to run,
 * such as a step no enrolment can reach or a loop that would send without pause. It works on the
 * step graph: a step goes on to its `next`, or else to the following step (the last one ends the
 * enrolment); a `waitFor` goes on at `onEvent` or `onTimeout`, a branch at its cases' `next` or
 * `otherwise`; an `exit` step ends the enrolment.
 */
import { stepKind, type ScenarioDefinition, type Step } from './scenario-definition';

export const LINT_RULES = [
  'unreachable-step',
  'waitfor-without-timeout',
  'loop-without-wait',
  'branch-without-exit',
  'send-without-template',
  'experiment-control',
  'auto-winner-without-goal',
] as const;
export type LintRule = (typeof LINT_RULES)[number];

export interface LintProblem {
  /** Where the problem is, e.g. `steps[2].waitFor.timeout`. */
  path: string;
  message: string;
  rule: LintRule;
}

/** Where a step goes on: another step (by index) or the end of the enrolment, and the field that says so. */
interface Edge {
  to: number | 'end';
  /** The field that names the target (`steps[1].next`), or the step itself when it falls through. */
  path: string;
}

/**
 * Every finding, in the order of the steps they are about. Jumps to step ids that do not exist are
 * ignored here (the parser reports them), so the linter can run on any `ScenarioDefinition`.
 */
export function lintScenario(definition: ScenarioDefinition): LintProblem[] {
  const { steps } = definition;
  const graph = stepGraph(steps);
  const found: Array<LintProblem & { step: number }> = [];
  const add = (step: number, rule: LintRule, path: string, message: string) => found.push({ step, rule, path, message });

  unreachableSteps(steps, graph, add);
  steps.forEach((step, index) => {
    if ('waitFor' in step && (step.waitFor.timeout === undefined || step.waitFor.timeout === '')) {
      add(
        index,
        'waitfor-without-timeout',
        `steps[${index}].waitFor.timeout`,
        `step "${step.id}" waits for ${JSON.stringify(step.waitFor.event)} with no timeout: users who never do it would wait forever; add a timeout (e.g. timeout: 7d) and say where they go in onTimeout`,
      );
    }
    if ('send' in step) {
      sendsWithoutTemplate(step, index, add);
      experimentSettings(definition, step, index, add);
    }
  });
  loopsWithoutWait(steps, graph, add);
  branchesWithNoWayOut(steps, graph, add);

  const order = (rule: LintRule) => LINT_RULES.indexOf(rule);
  return found
    .sort((a, b) => a.step - b.step || order(a.rule) - order(b.rule))
    .map(({ path, message, rule }) => ({ path, message, rule }));
}

type Add = (step: number, rule: LintRule, path: string, message: string) => void;

function stepGraph(steps: Step[]): Edge[][] {
  const index = new Map<string, number>();
  steps.forEach((step, i) => {
    if (!index.has(step.id)) index.set(step.id, i);
  });
  return steps.map((step, i): Edge[] => {
    const path = `steps[${i}]`;
    const jumps = (targets: Array<[string | undefined, string]>): Edge[] =>
      targets.flatMap(([target, at]) => {
        const to = target === undefined ? undefined : index.get(target);
        return to === undefined ? [] : [{ to, path: at }];
      });
    const kind = stepKind(step);
    switch (kind) {
      case 'exit':
        return [];
      case 'waitFor': {
        const { onEvent, onTimeout } = step as Extract<Step, { waitFor: unknown }>;
        return jumps([
          [onEvent, `${path}.onEvent`],
          [onTimeout, `${path}.onTimeout`],
        ]);
      }
      case 'branch': {
        const { branch, otherwise } = step as Extract<Step, { branch: unknown }>;
        return jumps([...branch.map((branchCase, c): [string, string] => [branchCase.next, `${path}.branch[${c}].next`]), [otherwise, `${path}.otherwise`]]);
      }
      case 'send':
      case 'wait':
      case 'waitUntil':
      case 'webhook':
        if (step.next !== undefined) return jumps([[step.next, `${path}.next`]]);
        return [{ to: i + 1 < steps.length ? i + 1 : 'end', path }];
      default: {
        const unhandled: never = kind;
        throw new Error(`unhandled step kind ${String(unhandled)}`);
      }
    }
  });
}

const isWait = (step: Step) => 'wait' in step || 'waitUntil' in step || 'waitFor' in step;

function unreachableSteps(steps: Step[], graph: Edge[][], add: Add): void {
  const reached = new Set<number>([0]);
  const queue = [0];
  for (let head = 0; head < queue.length; head++) {
    for (const { to } of graph[queue[head]]) {
      if (to !== 'end' && !reached.has(to)) {
        reached.add(to);
        queue.push(to);
      }
    }
  }
  steps.forEach((step, index) => {
    if (reached.has(index)) return;
    const previous = steps[index - 1];
    const why =
      previous === undefined || !reached.has(index - 1)
        ? ''
        : 'exit' in previous
          ? `; the step before it, "${previous.id}", ends the enrolment`
          : `; the step before it, "${previous.id}", goes on elsewhere`;
    add(
      index,
      'unreachable-step',
      `steps[${index}]`,
      `step "${step.id}" is never reached: no path from the first step "${steps[0].id}" leads to it${why}; name it in a next, onEvent, onTimeout or branch target, or remove it`,
    );
  });
}

function sendsWithoutTemplate(step: Extract<Step, { send: unknown }>, index: number, add: Add): void {
  const path = `steps[${index}].send`;
  const { template, variants } = step.send;
  if (template === undefined && (variants === undefined || variants.length === 0)) {
    add(index, 'send-without-template', path, `step "${step.id}" sends nothing: give it a template (one message) or variants (an A/B test, each with its template)`);
    return;
  }
  variants?.forEach((variant, v) => {
    if (variant.template === undefined || variant.template === '') {
      add(index, 'send-without-template', `${path}.variants[${v}].template`, `variant "${variant.key}" of step "${step.id}" has no template`);
    }
  });
}

/**
 * An A/B test's control must be one of its variants (the parser says so for input; definitions
 * built in code are checked here), and a step that picks its winner by itself needs the
 * scenario's goal: without it there are no conversions to compare.
 */
function experimentSettings(definition: ScenarioDefinition, step: Extract<Step, { send: unknown }>, index: number, add: Add): void {
  const path = `steps[${index}].send`;
  const { control, variants, autoWinner } = step.send;
  if (control !== undefined && !(variants ?? []).some((variant) => variant.key === control)) {
    const keys = (variants ?? []).map((variant) => variant.key);
    add(
      index,
      'experiment-control',
      `${path}.control`,
      keys.length === 0
        ? `step "${step.id}" names control "${control}" but has no variants`
        : `control "${control}" of step "${step.id}" is not one of its variants (${keys.join(', ')})`,
    );
  }
  if (autoWinner !== undefined && definition.goal === undefined) {
    add(
      index,
      'auto-winner-without-goal',
      `${path}.autoWinner`,
      `step "${step.id}" picks a winner by conversions, but the scenario has no goal; add goal: { event, within } (what counts as a conversion) or remove autoWinner`,
    );
  }
}

/**
 * A cycle made only of steps that do not wait would run again and again at once (a send in it
 * would spam the user). Strongly connected components of the graph without the waiting steps are
 * exactly those cycles; each is reported once, at the jump that closes it.
 */
function loopsWithoutWait(steps: Step[], graph: Edge[][], add: Add): void {
  const active = (i: number) => !isWait(steps[i]);
  for (const component of stronglyConnected(steps.length, graph, active)) {
    const start = Math.min(...component);
    const members = new Set(component);
    const selfLoop = graph[start].find((edge) => edge.to === start);
    if (component.length === 1 && selfLoop === undefined) continue;
    const { cycle, closing } = selfLoop ? { cycle: [start, start], closing: selfLoop } : shortestCycle(start, members, graph);
    add(
      start,
      'loop-without-wait',
      closing.path,
      `steps ${cycle.map((i) => steps[i].id).join(' -> ')} loop with no wait: they would run again and again at once; put a wait, waitUntil or waitFor step in the loop`,
    );
  }
}

/** The shortest path start -> ... -> start inside `members`, and the edge that closes it. */
function shortestCycle(start: number, members: Set<number>, graph: Edge[][]): { cycle: number[]; closing: Edge } {
  const previous = new Map<number, number>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const current = queue[head];
    for (const edge of graph[current]) {
      if (edge.to === start) {
        const cycle = [start];
        for (let at = current; at !== start; at = previous.get(at) as number) cycle.splice(1, 0, at);
        cycle.push(start);
        return { cycle, closing: edge };
      }
      if (edge.to !== 'end' && members.has(edge.to) && !previous.has(edge.to) && edge.to !== start) {
        previous.set(edge.to, current);
        queue.push(edge.to);
      }
    }
  }
  throw new Error('a strongly connected component without a cycle through its first step');
}

/** Tarjan's algorithm over the nodes for which `include` holds; iterative, so long scenarios cannot overflow the stack. */
function stronglyConnected(size: number, graph: Edge[][], include: (node: number) => boolean): number[][] {
  const indexOf = new Array<number>(size).fill(-1);
  const lowLink = new Array<number>(size).fill(0);
  const onStack = new Array<boolean>(size).fill(false);
  const stack: number[] = [];
  const components: number[][] = [];
  let counter = 0;
  const targets = (node: number) => graph[node].flatMap((edge) => (edge.to !== 'end' && include(edge.to) ? [edge.to] : []));

  for (let root = 0; root < size; root++) {
    if (!include(root) || indexOf[root] !== -1) continue;
    const work: Array<{ node: number; next: number; out: number[] }> = [];
    const open = (node: number) => {
      indexOf[node] = lowLink[node] = counter++;
      stack.push(node);
      onStack[node] = true;
      work.push({ node, next: 0, out: targets(node) });
    };
    open(root);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      if (frame.next < frame.out.length) {
        const to = frame.out[frame.next++];
        if (indexOf[to] === -1) open(to);
        else if (onStack[to]) lowLink[frame.node] = Math.min(lowLink[frame.node], indexOf[to]);
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].node;
        lowLink[parent] = Math.min(lowLink[parent], lowLink[frame.node]);
      }
      if (lowLink[frame.node] === indexOf[frame.node]) {
        const component: number[] = [];
        let member: number;
        do {
          member = stack.pop() as number;
          onStack[member] = false;
          component.push(member);
        } while (member !== frame.node);
        components.push(component.sort((a, b) => a - b));
      }
    }
  }
  return components;
}

/** A branch from which no path ends the enrolment (an exit step, or falling off the last step). */
function branchesWithNoWayOut(steps: Step[], graph: Edge[][], add: Add): void {
  const incoming: number[][] = steps.map(() => []);
  const ending: number[] = [];
  graph.forEach((edges, from) => {
    if ('exit' in steps[from]) ending.push(from);
    for (const { to } of edges) {
      if (to === 'end') ending.push(from);
      else incoming[to].push(from);
    }
  });
  const canEnd = new Set<number>(ending);
  const queue = [...canEnd];
  for (let head = 0; head < queue.length; head++) {
    for (const from of incoming[queue[head]]) {
      if (!canEnd.has(from)) {
        canEnd.add(from);
        queue.push(from);
      }
    }
  }
  steps.forEach((step, index) => {
    if ('branch' in step && !canEnd.has(index)) {
      add(
        index,
        'branch-without-exit',
        `steps[${index}].branch`,
        `no path from branch "${step.id}" ever ends the enrolment: every case and otherwise lead into a loop; add an exit step, or let a path reach the last step`,
      );
    }
  });
}
