/** Runs `work` every `intervalMs`, never two at once, reporting failures and carrying on. */
export class Periodic {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly intervalMs: number,
    private readonly work: () => Promise<unknown>,
    private readonly onError: (error: unknown) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = this.work()
      .then(() => undefined)
      .catch(this.onError)
      .finally(() => (this.running = undefined));
    await this.running;
  }
}
