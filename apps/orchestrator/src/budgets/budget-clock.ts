/** The orchestrator's budget clock (`Clock`): the system clock, or the test clock ATELIER_TEST_CLOCK_FILE names. */
export const BUDGET_CLOCK = Symbol('BUDGET_CLOCK');
