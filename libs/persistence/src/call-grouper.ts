import { isDatabaseUnavailable } from './database-unavailable';

export interface CallGrouperOptions {
  /** Groups executing at once; calls arriving meanwhile wait and leave together as the next group. */
  maxInFlight: number;
  maxGroup: number;
}

/** One statement of a kind in flight per process; what arrives meanwhile goes in the next, up to 64 together. */
export const DEFAULT_GROUPING: CallGrouperOptions = { maxInFlight: 1, maxGroup: 64 };

/**
 * Group commit for a hot path: concurrent calls are executed together. A call that finds
 * a free slot runs at once (alone), so an idle system adds no latency; under load, calls
 * queue behind the groups in flight and the next group takes them all. `execute` answers
 * each call of a group on its own (one may fail while the others succeed); if it throws,
 * every call of that group fails with its error.
 */
export class CallGrouper<I, O> {
  private readonly waiting: { input: I; resolve: (output: O) => void; reject: (error: unknown) => void }[] = [];
  private inFlight = 0;

  constructor(
    private readonly execute: (inputs: I[]) => Promise<PromiseSettledResult<O>[]>,
    private readonly options: CallGrouperOptions = DEFAULT_GROUPING,
  ) {}

  submit(input: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ input, resolve, reject });
      this.drain();
    });
  }

  private drain(): void {
    while (this.inFlight < this.options.maxInFlight && this.waiting.length > 0) {
      const group = this.waiting.splice(0, this.options.maxGroup);
      this.inFlight++;
      this.execute(group.map((call) => call.input))
        .then(
          (outcomes) =>
            group.forEach((call, index) => {
              const outcome = outcomes[index];
              if (outcome?.status === 'fulfilled') call.resolve(outcome.value);
              else call.reject(outcome ? outcome.reason : new Error('the group answered fewer calls than it was given'));
            }),
          (error: unknown) => group.forEach((call) => call.reject(error)),
        )
        .finally(() => {
          this.inFlight--;
          this.drain();
        });
    }
  }
}

const fulfilled = <T>(value: T): PromiseFulfilledResult<T> => ({ status: 'fulfilled', value });
const rejected = (reason: unknown): PromiseRejectedResult => ({ status: 'rejected', reason });

/**
 * A CallGrouper's `execute` for statements that take a whole group: one statement for the
 * group; if it fails, one for each call alone, so only a call that fails alone fails. An
 * unreachable database fails the whole group at once: alone, each call would only wait to
 * fail the same way.
 */
export async function groupOrEachAlone<I, O>(group: I[], statement: (inputs: I[]) => Promise<O[]>): Promise<PromiseSettledResult<O>[]> {
  try {
    return (await statement(group)).map(fulfilled);
  } catch (error) {
    if (group.length === 1 || isDatabaseUnavailable(error)) return group.map(() => rejected(error));
    const outcomes: PromiseSettledResult<O>[] = [];
    for (const input of group) outcomes.push(await statement([input]).then(([output]) => fulfilled(output as O), rejected));
    return outcomes;
  }
}

/**
 * A CallGrouper's `execute` for statements that must see each key (a step, a task) once:
 * a second call for the same key (two deliveries at once) goes in the next statement,
 * which sees what the first did. Each statement falls back as groupOrEachAlone does.
 */
export async function eachKeyOncePerStatement<I, O>(group: I[], keyOf: (input: I) => string, statement: (inputs: I[]) => Promise<O[]>): Promise<PromiseSettledResult<O>[]> {
  const outcomes: PromiseSettledResult<O>[] = new Array(group.length);
  let pending = group.map((input, index) => ({ input, index }));
  while (pending.length > 0) {
    const keys = new Set<string>();
    const batch = pending.filter(({ input }) => !keys.has(keyOf(input)) && keys.add(keyOf(input)));
    pending = pending.filter((item) => !batch.includes(item));
    const decided = await groupOrEachAlone(
      batch.map(({ input }) => input),
      statement,
    );
    batch.forEach(({ index }, i) => (outcomes[index] = decided[i] as PromiseSettledResult<O>));
  }
  return outcomes;
}
