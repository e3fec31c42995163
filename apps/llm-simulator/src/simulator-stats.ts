/** Counters behind GET /_sim/stats, so a test can assert how many calls really reached the "API". */
export class SimulatorStats {
  requests = 0;
  messages = 0;
  countTokens = 0;
  faultsInjected = 0;
  private byModel = new Map<string, number>();

  countModel(model: string): void {
    this.byModel.set(model, (this.byModel.get(model) ?? 0) + 1);
  }

  reset(): void {
    this.requests = 0;
    this.messages = 0;
    this.countTokens = 0;
    this.faultsInjected = 0;
    this.byModel = new Map();
  }

  toJSON() {
    return {
      requests: this.requests,
      messages: this.messages,
      countTokens: this.countTokens,
      faultsInjected: this.faultsInjected,
      byModel: Object.fromEntries(this.byModel),
    };
  }
}
