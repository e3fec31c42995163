import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { type ChainVerdict, type HeadAnchor, parseHeadAnchor } from '@atelier/contracts';
import { EXIT, UsageError } from '../cli-errors';
import { printLine, printTable, write } from '../cli-io';
import type { Command, CommandContext } from '../command';
import { verifyExportFile } from '../offline-verify';
import { flag, intOption, stringOption } from '../options';

interface AuditEvent {
  seq: number;
  position: number | null;
  occurredAt: string;
  action: string;
  actor: string;
  subject: string;
  taskId: string | null;
}
interface AuditPage {
  items: AuditEvent[];
  nextCursor: string | null;
}
interface Head {
  position: number;
  hash: string;
  anchor: string;
}

const list: Command = {
  group: 'audit',
  name: 'list',
  summary: 'audit events, newest first, filtered',
  usage: `atelier audit list [options]

  --task ID                  events of one task
  --action ACTION            one action of the catalog, e.g. llm.call
  --actor ACTOR              apikey:<id> or service:<name>
  --from TIME --to TIME      ISO-8601 time range (from inclusive, to exclusive)
  --limit N                  per page (1-500, default 50)
  --cursor CURSOR            continue from a previous page
  --all                      follow every page`,
  options: {
    task: { type: 'string' },
    action: { type: 'string' },
    actor: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
    all: { type: 'boolean' },
  },
  positionals: { min: 0, max: 0 },
  run(context) {
    const { values } = context;
    const query = Object.fromEntries(['task', 'action', 'actor', 'from', 'to'].map((name) => [name, stringOption(values, name)]));
    return printPages(context, '/v1/audit', { ...query, limit: intOption(values, 'limit') });
  },
};

const show: Command = {
  group: 'audit',
  name: 'show',
  summary: "one event in full, or a task's timeline (--task)",
  usage: `atelier audit show <seq>
atelier audit show --task <task-id>      the task's events, oldest first (causal order)`,
  options: { task: { type: 'string' } },
  positionals: { min: 0, max: 1 },
  async run(context) {
    const task = stringOption(context.values, 'task');
    const seq = context.positionals[0];
    if ((task === undefined) === (seq === undefined)) throw new UsageError('give either an event seq or --task <task-id>');
    if (task !== undefined) return printPages(context, `/v1/tasks/${encodeURIComponent(task)}/audit`, {}, true);
    if (!/^\d{1,15}$/.test(seq as string)) throw new UsageError(`<seq> must be a positive integer, got "${seq}"`);
    const event = await context.api().getJson<unknown>(`/v1/audit/${seq}`);
    printLine(context.io.stdout, context.json ? JSON.stringify(event) : JSON.stringify(event, null, 2));
    return EXIT.ok;
  },
};

const exportCommand: Command = {
  group: 'audit',
  name: 'export',
  summary: 'stream the sealed chain as NDJSON (verifiable offline) or CSV',
  usage: `atelier audit export [options]

  --format ndjson|csv        default ndjson; only NDJSON can be verified
  --from POSITION            first chain position (default 1)
  --to POSITION              last chain position (default: the head when the export starts)
  --output FILE              write to FILE instead of standard output`,
  options: { format: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, output: { type: 'string' } },
  positionals: { min: 0, max: 0 },
  async run(context) {
    const { values, io } = context;
    const format = stringOption(values, 'format') ?? 'ndjson';
    if (!['ndjson', 'csv'].includes(format)) throw new UsageError(`--format must be ndjson or csv, got "${format}"`);
    const range = { from: intOption(values, 'from'), to: intOption(values, 'to') };
    const response = await context.api().stream('/v1/audit/export', { format, ...range });
    const output = stringOption(values, 'output');
    const out = output ? createWriteStream(output) : io.stdout;
    for await (const chunk of response.body ?? []) await write(out, chunk as Uint8Array);
    if (output) {
      out.end();
      await finished(out);
      printLine(io.stderr, `exported chain positions ${response.headers.get('x-audit-range') ?? '?'} to ${output}`);
    }
    return EXIT.ok;
  },
};

const verify: Command = {
  group: 'audit',
  name: 'verify',
  summary: 'check the chain: on the server, or offline from an export file (--file)',
  usage: `atelier audit verify [--from POSITION] [--to POSITION] [--head ANCHOR]
atelier audit verify --file EXPORT.ndjson [--head ANCHOR] [--from POSITION --prev HASH]

  --file FILE                re-compute the chain offline from an NDJSON export: needs no API
                             and no trust in the server. The export must start at position 1
                             (genesis hash): one whose beginning is missing fails
  --from POSITION --prev HASH
                             with --file: the export is a segment starting at POSITION, and HASH
                             is the hash of POSITION - 1, known from elsewhere (an earlier export
                             or anchored head)
  --head ANCHOR              a head taken earlier (HASH, or POSITION:HASH as "atelier audit head"
                             prints it): the chain must still contain it, which catches a cut tail
  --from, --to POSITION      server check of a range (default: all of it; a tenant key checks at
                             most the server's per-request maximum)

Exit status 0 when the chain verifies, 3 when it does not (the first bad position is printed).`,
  options: { file: { type: 'string' }, head: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, prev: { type: 'string' } },
  positionals: { min: 0, max: 0 },
  async run(context) {
    const { values } = context;
    const headText = stringOption(values, 'head');
    const head: HeadAnchor | undefined = headText === undefined ? undefined : parseHeadAnchor(headText);
    if (headText !== undefined && !head) throw new UsageError('--head must be a hash (64 hex characters) or POSITION:HASH');
    const file = stringOption(values, 'file');
    const prev = stringOption(values, 'prev');
    if (file !== undefined) {
      if (values['to'] !== undefined) throw new UsageError('--to applies to the server check; an export file is verified to its end');
      const from = intOption(values, 'from');
      if ((from === undefined) !== (prev === undefined)) {
        throw new UsageError('--from and --prev go together: a segment starting at POSITION is checked against the hash of POSITION - 1');
      }
      if (prev !== undefined && !/^[0-9a-f]{64}$/.test(prev)) throw new UsageError('--prev must be a hash (64 lowercase hex characters)');
      const segment = from === undefined ? {} : { from, expectedPrevHash: prev };
      return report(context, await verifyExportFile(file, { ...segment, ...(head ? { head } : {}) }), `file ${file}`);
    }
    if (prev !== undefined) throw new UsageError('--prev applies to an export file (--file)');
    const query = { from: intOption(values, 'from'), to: intOption(values, 'to'), head: headText };
    const verdict = await context.api().getJson<Verdict>('/v1/audit/verify', query);
    return report(context, verdict, 'server');
  },
};

const headCommand: Command = {
  group: 'audit',
  name: 'head',
  summary: 'the last sealed position and hash, to keep outside the system',
  usage: `atelier audit head [--json]

Prints POSITION:HASH; keep it somewhere the platform cannot write (a ticket, a signed
email, another system) and pass it to "atelier audit verify --head" later.`,
  options: {},
  positionals: { min: 0, max: 0 },
  async run(context) {
    const head = await context.api().getJson<Head>('/v1/audit/head');
    printLine(context.io.stdout, context.json ? JSON.stringify(head) : head.anchor);
    return EXIT.ok;
  },
};

async function printPages(context: CommandContext, path: string, query: Record<string, string | number | undefined>, allPages = false): Promise<number> {
  const { io, values } = context;
  let cursor = stringOption(values, 'cursor');
  const rows = [['SEQ', 'POSITION', 'OCCURRED AT', 'ACTION', 'ACTOR', 'SUBJECT']];
  do {
    const page = await context.api().getJson<AuditPage>(path, { ...query, cursor });
    for (const event of page.items) {
      if (context.json) printLine(io.stdout, JSON.stringify(event));
      else rows.push([String(event.seq), event.position === null ? '-' : String(event.position), event.occurredAt, event.action, event.actor, event.subject]);
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor && (allPages || flag(values, 'all')));
  if (!context.json) printTable(io.stdout, rows);
  if (cursor) printLine(io.stderr, `more: --cursor ${cursor}`);
  return EXIT.ok;
}

/** The server answers the core fields; the offline check adds what it saw. */
type Verdict = Pick<ChainVerdict, 'ok' | 'checked' | 'firstBadPosition' | 'reason'> & Partial<ChainVerdict> & { from?: number; to?: number };

function report(context: CommandContext, verdict: Verdict, source: string): number {
  const { io } = context;
  if (context.json) printLine(io.stdout, JSON.stringify(verdict));
  else if (verdict.ok) {
    const links = verdict.withheld ? ` (${verdict.withheld} of them other tenants' events, checked as links only)` : '';
    // The server names the range it checked (a tenant key's is bounded: the last positions by default).
    const range = verdict.from !== undefined && verdict.to !== undefined ? ` (positions ${verdict.from}-${verdict.to})` : '';
    printLine(io.stdout, `OK: ${source}: ${verdict.checked} chain positions verified${range}${links}`);
    if (verdict.firstPosition && verdict.firstPosition > 1) {
      printLine(io.stdout, `note: a segment from position ${verdict.firstPosition}, joined to the hash given for position ${verdict.firstPosition - 1}`);
    }
  } else {
    printLine(io.stdout, `FAILED: ${source}: first bad position ${verdict.firstBadPosition}: ${verdict.reason}`);
    if (source.startsWith('file ') && verdict.firstBadPosition === 1 && verdict.checked === 1 && /missing/.test(verdict.reason ?? '')) {
      printLine(io.stdout, 'note: the file does not start at position 1; to check a segment, pass --from POSITION --prev HASH');
    }
  }
  return verdict.ok ? EXIT.ok : EXIT.negative;
}

export const AUDIT_COMMANDS: Command[] = [list, show, exportCommand, verify, headCommand];
