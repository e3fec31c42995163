export interface CallGrouperOptions {
  /** Groups executing at once; calls arriving meanwhile wait and leave together as the next group. */
  maxInFlight: number;
  maxGroup: number;
}

/**
 * Group commit for a hot path: concurrent calls are executed together. A call that finds
 * a free slot runs at once (alone), so an idle system adds no latency; under load, calls
 * queue behind the groups in flight and the next group takes them all.
 */
export class CallGrouper<I, O> {
  private readonly waiting: { input: I; resolve: (output: O) => void; reject: (error: unknown) => void }[] = [];
  private inFlight = 0;

  constructor(
    private readonly execute: (inputs: I[]) => Promise<O[]>,
    private readonly options: CallGrouperOptions,
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
          (outputs) => group.forEach((call, index) => call.resolve(outputs[index] as O)),
          (error: unknown) => group.forEach((call) => call.reject(error)),
        )
        .finally(() => {
          this.inFlight--;
          this.drain();
        });
    }
  }
}
