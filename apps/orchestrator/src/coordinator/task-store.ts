import { Injectable } from '@nestjs/common';
import type { AgentName, StepKind, StepStatus, TaskStatus } from '@atelier/contracts';
import { type AuditEventInput, auditJson, auditRowsFrom, CallGrouper, groupOrEachAlone, insertAuditFrom, namedStatement, PrismaService } from '@atelier/persistence';
import { stepRowsFrom, stepRowsJson } from './step-rows';

export interface StepSnapshot {
  id: string;
  key: string;
  kind: StepKind;
  agent: AgentName;
  status: StepStatus;
  input: Record<string, unknown>;
  output: unknown;
  error: unknown;
  completedAt: string | null;
  dispatched: boolean;
  dispatchSeq: number;
}

export interface TaskSnapshot {
  id: string;
  tenantId: string;
  workflow: string;
  status: TaskStatus;
  input: { goal: string };
  version: number;
  traceId: string | null;
  deadlineAt: Date | null;
  steps: StepSnapshot[];
}

export interface StepToInsert {
  id: string;
  key: string;
  kind: StepKind;
  agent: AgentName;
  dependsOn: string[];
  input: Record<string, unknown>;
}

export interface TaskEnd {
  status: Exclude<TaskStatus, 'queued' | 'running'>;
  result: unknown;
  error: unknown;
  /** The event recording the end; `stoppedSteps` (keys of steps it cancelled) is added to its data. */
  audit: AuditEventInput;
}

/** The tasks of $1 (ids), each with all its steps. */
const LOAD = namedStatement('task.load', `
SELECT t.id, t.tenant_id AS "tenantId", t.workflow, t.status::text AS status, t.input, t.version, t.trace_id AS "traceId",
       t.deadline_at AS "deadlineAt",
       coalesce((SELECT json_agg(json_build_object(
                  'id', s.id, 'key', s.key, 'kind', s.kind, 'agent', s.agent, 'status', s.status, 'input', s.input,
                  'output', s.output, 'error', s.error, 'completedAt', s.completed_at,
                  'dispatched', s.dispatched_at IS NOT NULL, 'dispatchSeq', s.dispatch_seq) ORDER BY s.queued_at, s.key)
                 FROM steps s WHERE s.task_id = t.id), '[]') AS steps
FROM tasks t WHERE t.id = ANY($1::uuid[])`);

/** Only a task still at the version the plan was made from moves on: a concurrent advance makes this one look again. */
const INSERT_STEPS = namedStatement('task.insert-steps', `
WITH bumped AS (
  UPDATE tasks SET version = version + 1, updated_at = now()
  WHERE id = $1 AND version = $2 AND status IN ('queued', 'running') RETURNING id
), inserted AS (
  INSERT INTO steps (id, task_id, key, kind, agent, depends_on, input)
  SELECT s.id, $1, s.key, s.kind, s.agent, s.depends_on, s.input
  FROM bumped CROSS JOIN ${stepRowsFrom('$3')}
  ON CONFLICT (task_id, key) DO NOTHING
  RETURNING id
), audit AS (${insertAuditFrom('$4', 'EXISTS (SELECT 1 FROM bumped)')})
SELECT (SELECT count(*) FROM bumped)::int AS applied`);

const END = namedStatement('task.end', `
WITH ended AS (
  UPDATE tasks SET status = $3::task_status, result = $4::jsonb, error = $5::jsonb, completed_at = now(), updated_at = now(),
                   version = version + 1
  WHERE id = $1 AND version = $2 AND status IN ('queued', 'running') RETURNING id
), stopped AS (
  UPDATE steps SET status = 'cancelled', lease_until = NULL, updated_at = now()
  WHERE task_id = $1 AND status IN ('queued', 'running') AND EXISTS (SELECT 1 FROM ended)
  RETURNING key
), audit AS (
  INSERT INTO audit_events (actor, action, subject, tenant_id, task_id, trace_id, request_id, data)
  SELECT a.actor, a.action, a.subject, a.tenant_id, a.task_id, a.trace_id, a.request_id,
         a.data || jsonb_build_object('stoppedSteps', (SELECT coalesce(jsonb_agg(key ORDER BY key), '[]'::jsonb) FROM stopped))
  FROM (${auditRowsFrom('$6')}) a
  WHERE EXISTS (SELECT 1 FROM ended)
)
SELECT (SELECT count(*) FROM ended)::int AS applied`);

/**
 * The coordinator's reads and writes of a task: one read of the task with all its steps,
 * then one version-checked statement per change (no lock held across the planning in
 * between), so several orchestrator replicas advance a task exactly once.
 */
@Injectable()
export class TaskStore {
  private readonly loads = new CallGrouper<string, TaskSnapshot | undefined>((ids) => groupOrEachAlone(ids, (group) => this.loadStatement(group)), { maxInFlight: 1, maxGroup: 64 });

  constructor(private readonly prisma: PrismaService) {}

  /** Loads that arrive while one runs go together in the next statement. */
  load(taskId: string): Promise<TaskSnapshot | undefined> {
    return this.loads.submit(taskId);
  }

  private async loadStatement(ids: string[]): Promise<(TaskSnapshot | undefined)[]> {
    const { rows } = await this.prisma.pool.query<TaskSnapshot>({ ...LOAD, values: [ids] });
    const byId = new Map(rows.map((task) => [task.id, task]));
    // Postgres answers uuids in lower case, whatever case they were asked in.
    return ids.map((id) => byId.get(id.toLowerCase()));
  }

  /** Inserts the steps that became ready, with their audit events; false when the task moved on meanwhile. */
  async insertSteps(task: TaskSnapshot, steps: readonly StepToInsert[], audit: readonly AuditEventInput[]): Promise<boolean> {
    const { rows: result } = await this.prisma.pool.query<{ applied: number }>({ ...INSERT_STEPS, values: [task.id, task.version, stepRowsJson(steps), auditJson(audit)] });
    return result[0]?.applied === 1;
  }

  /**
   * Ends the task (and cancels its unfinished steps); false when the task moved on
   * meanwhile. The task row is locked before its steps' rows: every statement that locks
   * both takes them in this order (a first step claim too), so none can deadlock with it.
   * The ended task is at `task.version + 1`.
   */
  async end(task: TaskSnapshot, end: TaskEnd): Promise<boolean> {
    const { rows } = await this.prisma.pool.query<{ applied: number }>({
      ...END,
      values: [
      task.id,
      task.version,
      end.status,
      end.result === undefined ? null : JSON.stringify(end.result),
      end.error === undefined ? null : JSON.stringify(end.error),
      auditJson([end.audit]),
      ],
    });
    return rows[0]?.applied === 1;
  }
}
