import { UsageError, EXIT } from '../cli-errors';
import { printLine, printTable } from '../cli-io';
import type { Command, CommandContext } from '../command';
import { flag, intOption, stringOption } from '../options';

interface TaskView {
  id: string;
  tenant: string;
  workflow: string;
  status: string;
  result?: { document?: string; partial?: boolean };
  error?: unknown;
  steps: { id: string; key: string; kind: string; status: string; attempts: number; costUsd: string }[];
  costUsd: string;
  budgetUsd?: string;
  createdAt: string;
  completedAt?: string;
}

const ACTIVE = ['queued', 'running'];

const submit: Command = {
  group: 'tasks',
  name: 'submit',
  summary: 'submit a task (202: it runs asynchronously)',
  usage: `atelier tasks submit <goal> [options]

  <goal>                     what to do, e.g. "Brief me on heat pumps" (or --goal)
  --goal TEXT                the goal, instead of the positional argument
  --workflow NAME            workflow (default research-report)
  --budget USD               spend cap for this task, e.g. 2.50
  --deadline SECONDS         give up after this many seconds
  --idempotency-key KEY      the same key and body return the same task
  --metadata KEY=VALUE       attach metadata (repeatable)
  --watch                    then follow the task until it ends (exit 3 if it does not complete)`,
  options: {
    goal: { type: 'string' },
    workflow: { type: 'string' },
    budget: { type: 'string' },
    deadline: { type: 'string' },
    'idempotency-key': { type: 'string' },
    metadata: { type: 'string', multiple: true },
    watch: { type: 'boolean' },
    interval: { type: 'string' },
  },
  positionals: { min: 0, max: 1 },
  async run(context) {
    const { values, positionals } = context;
    const goalOption = stringOption(values, 'goal');
    if ((goalOption === undefined) === (positionals[0] === undefined)) throw new UsageError('give the goal once: as the argument or with --goal');
    const metadata = Object.fromEntries(
      ((values['metadata'] as string[] | undefined) ?? []).map((pair) => {
        const at = pair.indexOf('=');
        if (at < 1) throw new UsageError(`--metadata must be KEY=VALUE, got "${pair}"`);
        return [pair.slice(0, at), pair.slice(at + 1)];
      }),
    );
    const deadline = intOption(values, 'deadline');
    const key = stringOption(values, 'idempotency-key');
    const body = {
      input: { goal: goalOption ?? positionals[0] },
      ...(stringOption(values, 'workflow') ? { workflow: stringOption(values, 'workflow') } : {}),
      ...(stringOption(values, 'budget') ? { budgetUsd: stringOption(values, 'budget') } : {}),
      ...(deadline ? { deadlineSeconds: deadline } : {}),
      ...(Object.keys(metadata).length ? { metadata } : {}),
    };
    const created = await context.api().postJson<{ id: string; status: string }>('/v1/tasks', body, key ? { 'idempotency-key': key } : {});
    if (context.json) printLine(context.io.stdout, JSON.stringify(created));
    else printLine(context.io.stdout, `task ${created.id} ${created.status}`);
    return flag(values, 'watch') ? watchTask(context, created.id) : EXIT.ok;
  },
};

const get: Command = {
  group: 'tasks',
  name: 'get',
  summary: "a task's status, steps, cost and result",
  usage: `atelier tasks get <task-id> [--json]`,
  options: {},
  positionals: { min: 1, max: 1 },
  async run(context) {
    const task = await context.api().getJson<TaskView>(`/v1/tasks/${encodeURIComponent(context.positionals[0] as string)}`);
    if (context.json) printLine(context.io.stdout, JSON.stringify(task));
    else printTask(context, task);
    return EXIT.ok;
  },
};

const list: Command = {
  group: 'tasks',
  name: 'list',
  summary: 'your tasks, newest first',
  usage: `atelier tasks list [options]

  --status STATUS            queued, running, completed, failed, cancelled, budget_exceeded, timed_out
  --limit N                  per page (1-100, default 20)
  --cursor CURSOR            continue from a previous page
  --all                      follow every page`,
  options: { status: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' }, all: { type: 'boolean' } },
  positionals: { min: 0, max: 0 },
  async run(context) {
    const { values, io } = context;
    let cursor = stringOption(values, 'cursor');
    const query = { status: stringOption(values, 'status'), limit: intOption(values, 'limit') };
    const rows = [['ID', 'STATUS', 'WORKFLOW', 'COST USD', 'CREATED']];
    do {
      const page = await context.api().getJson<{ items: TaskView[]; nextCursor: string | null }>('/v1/tasks', { ...query, cursor });
      for (const task of page.items) {
        if (context.json) printLine(io.stdout, JSON.stringify(task));
        else rows.push([task.id, task.status, task.workflow, task.costUsd, task.createdAt]);
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor && flag(values, 'all'));
    if (!context.json) printTable(io.stdout, rows);
    if (cursor) printLine(io.stderr, `more: --cursor ${cursor}`);
    return EXIT.ok;
  },
};

const watch: Command = {
  group: 'tasks',
  name: 'watch',
  summary: 'follow a task until it ends (exit 0 if completed, 3 otherwise)',
  usage: `atelier tasks watch <task-id> [--interval MS]

  --interval MS              how often to look (default 1000)`,
  options: { interval: { type: 'string' } },
  positionals: { min: 1, max: 1 },
  run: (context) => watchTask(context, context.positionals[0] as string),
};

/** Polls the task and prints each change of its status or of a step's status. */
async function watchTask(context: CommandContext, id: string): Promise<number> {
  const intervalMs = intOption(context.values, 'interval', 100) ?? 1_000;
  const seen = new Map<string, string>();
  for (;;) {
    const task = await context.api().getJson<TaskView>(`/v1/tasks/${encodeURIComponent(id)}`);
    const changes = [['task', task.status], ...task.steps.map((step) => [`${step.key} (${step.kind})`, step.status])].filter(
      ([name, status]) => seen.get(name as string) !== status,
    );
    for (const [name, status] of changes) {
      seen.set(name as string, status as string);
      if (context.json) printLine(context.io.stdout, JSON.stringify({ at: new Date().toISOString(), taskId: id, subject: name, status }));
      else printLine(context.io.stdout, `${new Date().toISOString().slice(11, 19)}  ${(name as string).padEnd(36)}  ${status}`);
    }
    if (!ACTIVE.includes(task.status)) {
      if (!context.json) printLine(context.io.stdout, `task ${task.status}, cost $${task.costUsd}`);
      return task.status === 'completed' ? EXIT.ok : EXIT.negative;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function printTask({ io }: CommandContext, task: TaskView): void {
  printLine(io.stdout, `task      ${task.id}`);
  printLine(io.stdout, `status    ${task.status}`);
  printLine(io.stdout, `workflow  ${task.workflow}   tenant ${task.tenant}`);
  printLine(io.stdout, `cost      $${task.costUsd}${task.budgetUsd ? ` of $${task.budgetUsd}` : ''}`);
  printLine(io.stdout, `created   ${task.createdAt}${task.completedAt ? `   ended ${task.completedAt}` : ''}`);
  printLine(io.stdout, 'steps');
  printTable(io.stdout, task.steps.map((step) => [`  ${step.key}`, step.kind, step.status, `attempts ${step.attempts}`, `$${step.costUsd}`]));
  if (task.error) printLine(io.stdout, `error     ${JSON.stringify(task.error)}`);
  if (task.result?.document) {
    printLine(io.stdout);
    printLine(io.stdout, task.result.document);
  }
}

export const TASK_COMMANDS: Command[] = [submit, get, list, watch];
