import { Inject, Injectable } from '@nestjs/common';
import type { UsageQuery } from '@atelier/contracts';
import { type Clock, PrismaService } from '@atelier/persistence';
import { type Caller, isAdmin } from '../auth/caller';
import { Problem } from '../http/problem';
import { BUDGET_CLOCK } from './budget-clock';

export interface UsageFigures {
  calls: number;
  cacheHits: number;
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
  costUsd: string;
}

export interface UsageReport {
  groupBy: UsageQuery['groupBy'];
  from: string;
  to: string;
  tenant: string | null;
  items: (UsageFigures & { key: string })[];
  total: UsageFigures;
  /** More groups exist than `limit` returned (totals still cover them all). */
  truncated: boolean;
}

const DEFAULT_RANGE_MS = 30 * 24 * 3600_000;

/** Group expression and order per groupBy: fixed SQL, never built from input. */
const GROUPINGS = {
  model: { key: 'c.model', order: 'cost_usd DESC, key' },
  day: { key: `to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`, order: 'key' },
  task: { key: 'c.task_id::text', order: 'cost_usd DESC, key' },
  tenant: { key: '(SELECT n.name FROM tenants n WHERE n.id = c.tenant_id)', order: 'cost_usd DESC, key' },
} as const;

interface UsageRow {
  key: string;
  calls: number;
  cache_hits: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cost_usd: string;
  groups: number;
  total: UsageFigures;
}

/** Spend and tokens from the ledger (llm_calls): every attempt, cache hits at $0 included. */
@Injectable()
export class UsageService {
  constructor(
    private readonly prisma: PrismaService,
    @Inject(BUDGET_CLOCK) private readonly clock: Clock,
  ) {}

  async report(caller: Caller, query: UsageQuery): Promise<UsageReport> {
    let tenantId: string | null = isAdmin(caller) ? null : caller.tenantId;
    let tenantName: string | null = isAdmin(caller) ? null : caller.tenantName;
    if (query.tenant) {
      const tenant = await this.prisma.tenant.findUnique({ where: { name: query.tenant } });
      if (!tenant || (!isAdmin(caller) && tenant.id !== caller.tenantId)) throw Problem.notFound(`No tenant ${query.tenant}.`);
      [tenantId, tenantName] = [tenant.id, tenant.name];
    }
    const to = query.to ? new Date(query.to) : this.clock.now();
    const from = query.from ? new Date(query.from) : new Date(to.getTime() - DEFAULT_RANGE_MS);
    const grouping = GROUPINGS[query.groupBy];
    const rows = await this.prisma.$queryRawUnsafe<UsageRow[]>(
      `WITH grouped AS (
         SELECT ${grouping.key} AS key, count(*)::int AS calls, (count(*) FILTER (WHERE c.cache_hit))::int AS cache_hits,
                sum(c.input_tokens)::float8 AS input_tokens, sum(c.output_tokens)::float8 AS output_tokens,
                sum(c.cache_creation_input_tokens)::float8 AS cache_creation_input_tokens,
                sum(c.cache_read_input_tokens)::float8 AS cache_read_input_tokens, sum(c.cost_usd) AS cost_usd
           FROM llm_calls c
          WHERE c.created_at >= $1 AND c.created_at < $2 AND ($3::uuid IS NULL OR c.tenant_id = $3::uuid)
          GROUP BY 1)
       SELECT key, calls, cache_hits, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens,
              trim_scale(cost_usd)::text AS cost_usd, count(*) OVER ()::int AS groups,
              json_build_object('calls', sum(calls) OVER (), 'cacheHits', sum(cache_hits) OVER (),
                                'inputTokens', sum(input_tokens) OVER (), 'outputTokens', sum(output_tokens) OVER (),
                                'cacheCreationInputTokens', sum(cache_creation_input_tokens) OVER (),
                                'cacheReadInputTokens', sum(cache_read_input_tokens) OVER (),
                                'costUsd', trim_scale(sum(cost_usd) OVER ())::text) AS total
         FROM grouped
        ORDER BY ${grouping.order}
        LIMIT $4`,
      from,
      to,
      tenantId,
      query.limit,
    );
    return {
      groupBy: query.groupBy,
      from: from.toISOString(),
      to: to.toISOString(),
      tenant: tenantName,
      items: rows.map((row) => ({
        key: row.key,
        calls: row.calls,
        cacheHits: row.cache_hits,
        inputTokens: row.input_tokens,
        outputTokens: row.output_tokens,
        cacheCreationInputTokens: row.cache_creation_input_tokens,
        cacheReadInputTokens: row.cache_read_input_tokens,
        costUsd: row.cost_usd,
      })),
      total: rows[0]?.total ?? { calls: 0, cacheHits: 0, inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, costUsd: '0' },
      truncated: (rows[0]?.groups ?? 0) > rows.length,
    };
  }
}
