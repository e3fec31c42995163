import Decimal from 'decimal.js';
import { Client } from 'pg';
import { createTestDatabase, startLlmSimulator, startNatsServer, startService, type ServiceProcess, type TestDatabase } from '@atelier/testing';
import { apiClient } from './support/api-client';
import { waitFor } from './support/wait-for';

// kill -9 an agent while it holds a reservation (the simulator is still holding the
// model's reply): after the reservation's TTL the orchestrator's sweeper bills it at
// its reserved amount as an unknown outcome, and every budget still adds up.

const BOOTSTRAP_KEY = 'bootstrap-admin-key-for-sweep-e2e-01234';

describe('reservation sweeper (end to end)', () => {
  let db: TestDatabase;
  let sql: Client;
  let nats: Awaited<ReturnType<typeof startNatsServer>>;
  let simulator: Awaited<ReturnType<typeof startLlmSimulator>>;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    [db, nats, simulator] = await Promise.all([createTestDatabase('atelier_sweep_e2e'), startNatsServer(), startLlmSimulator()]);
    sql = new Client({ connectionString: db.url });
    await sql.connect();
    const common = { DATABASE_URL: db.url, NATS_URL: nats.url, SHUTDOWN_GRACE_MS: '1000' };
    services.push(
      await startService('orchestrator', { ...common, ATELIER_BOOTSTRAP_API_KEY: BOOTSTRAP_KEY, ATELIER_DEFAULT_TENANT_BUDGET_USD: '10', SPEND_SWEEP_INTERVAL_MS: '300' }),
      // A short TTL so the test need not wait minutes; it must still exceed the call timeout.
      await startService('research-agent', { ...common, LLM_MODE: 'simulator', ANTHROPIC_BASE_URL: simulator.url, LLM_TIMEOUT_MS: '1500', SPEND_RESERVATION_TTL_MS: '2500' }),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all(services.map((service) => service.stop()));
    await sql?.end();
    await Promise.all([simulator?.stop(), nats?.stop()]);
    await db?.drop();
  });

  it('bills the reservation of an agent killed mid-call at its reserved amount, as unknown, and totals still match', async () => {
    const api = apiClient(services[0]!.url);
    const key = await api.mintKey(BOOTSTRAP_KEY, 'acme', ['tasks:write', 'tasks:read']);
    const submitted = await api.call('/v1/tasks', {
      method: 'POST',
      key,
      // The simulator holds this reply for 20 s: the agent is mid-call when it dies.
      body: JSON.stringify({ input: { goal: 'Grid batteries [[sim:latency=20000]]' }, budgetUsd: '1' }),
    });
    const { id } = (await submitted.json()) as { id: string };

    // Kill once the simulator holds the request: the agent is mid-call, its money reserved.
    await waitFor('the model call', async () => ((await (await fetch(`${simulator.url}/_sim/stats`)).json()) as { messages: number }).messages, (messages) => messages > 0);
    await services[1]!.kill();
    const held = (await sql.query(`SELECT attempt_id, amount_usd::text AS amount, state FROM spend_reservations WHERE task_id = $1`, [id])).rows[0];
    expect(held.state).toBe('reserved');
    const during = (await sql.query(`SELECT scope, spent_usd::text AS spent, reserved_usd::text AS reserved FROM budget_balances ORDER BY scope`)).rows;
    expect(during).toEqual([
      { scope: 'tenant', spent: '0.000000000000', reserved: expect.any(String) },
      { scope: 'task', spent: '0.000000000000', reserved: expect.any(String) },
    ]);
    expect(during.every((budget) => new Decimal(budget.reserved).equals(held.amount))).toBe(true);

    const swept = await waitFor(
      'the sweeper',
      async () => (await sql.query(`SELECT state, settled_usd::text AS settled FROM spend_reservations WHERE attempt_id = $1`, [held.attempt_id])).rows[0],
      (reservation) => reservation.state !== 'reserved',
    );
    expect(swept).toEqual({ state: 'unknown_outcome', settled: held.amount });

    const calls = (await sql.query(`SELECT attempt_id, outcome, cost_usd::text AS cost, error_type FROM llm_calls WHERE task_id = $1`, [id])).rows;
    expect(calls).toEqual([{ attempt_id: held.attempt_id, outcome: 'unknown', cost: held.amount, error_type: 'holder_lost' }]);
    const [event] = (await sql.query(`SELECT actor, data FROM audit_events WHERE task_id = $1 AND action = 'llm.call'`, [id])).rows;
    expect(event).toMatchObject({ actor: 'service:orchestrator', data: { outcome: 'unknown', heldBy: 'service:research-agent', sweptAfterTtl: true, costUsd: new Decimal(held.amount).toFixed() } });

    // Every budget the call held now shows it as spent, exactly the ledger: at once (the
    // balances), and in the budget rows themselves once housekeeping has folded it in.
    const ledger = (await sql.query(`SELECT sum(cost_usd)::text AS total FROM llm_calls`)).rows[0].total;
    const after = (await sql.query(`SELECT spent_usd::text AS spent, reserved_usd::text AS reserved FROM budget_balances`)).rows;
    for (const budget of after) expect(budget).toEqual({ spent: ledger, reserved: '0.000000000000' });
    const rows = await waitFor(
      'the settlement folded into the budget rows',
      async () => (await sql.query(`SELECT spent_usd::text AS spent, reserved_usd::text AS reserved FROM budgets`)).rows,
      (budgets) => budgets.every((budget) => budget.reserved === '0.000000000000'),
    );
    for (const budget of rows) expect(budget).toEqual({ spent: ledger, reserved: '0.000000000000' });
    const task = await api.json(`/v1/tasks/${id}`, { key });
    expect(new Decimal(task.costUsd).equals(held.amount)).toBe(true);
  }, 40_000);
});
