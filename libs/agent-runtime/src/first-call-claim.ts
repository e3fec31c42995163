import type { StepKind } from '@atelier/contracts';
import type { ClaimedByReservation, StepClaimTerms } from '@atelier/persistence';
import type { ClaimedStep } from './step-store';

/** The step was not claimed by its first model call: the run that began on the dispatch's input is dropped. */
export class NotClaimedByFirstCall extends Error {
  override readonly name = 'NotClaimedByFirstCall';
}

/**
 * The claim of a step whose handler was started on the input its dispatch carried, before
 * the step was claimed, and left to the reservation of the handler's first model call
 * (SpendLedger.reserveClaiming): one statement, one commit and one wake-up less on the way
 * of every step. Until the claim is made nothing is written for the step. If the first call
 * cannot claim it (the step is not as the dispatch says, or that call must not carry a
 * claim: see ModelCaller), the claim is given up and every later call fails with
 * NotClaimedByFirstCall; the delivery then claims the step the usual way and runs the
 * handler again (StepExecutor).
 */
export class FirstCallClaim {
  private state: 'open' | 'claiming' | 'claimed' | 'given_up' = 'open';
  private claimedStep: ClaimedStep | undefined;
  private readonly decided: Promise<void>;
  private decide!: () => void;
  /** Settles once the step is claimed (its lease, deadline and start announcement begin then); never if it is not. */
  readonly whenClaimed: Promise<ClaimedStep>;
  private resolveClaimed!: (step: ClaimedStep) => void;

  constructor(
    private readonly terms: StepClaimTerms,
    private readonly input: Record<string, unknown>,
  ) {
    this.decided = new Promise((resolve) => (this.decide = resolve));
    this.whenClaimed = new Promise((resolve) => (this.resolveClaimed = resolve));
  }

  /** The step, once claimed. */
  get step(): ClaimedStep | undefined {
    return this.claimedStep;
  }

  /**
   * Before a model call writes anything: the terms this call is to claim the step with
   * (the first call), or undefined when the step is claimed already (later calls, which
   * wait for the first to decide). Throws NotClaimedByFirstCall once the claim is given up.
   */
  async termsForCall(): Promise<StepClaimTerms | undefined> {
    if (this.state === 'open') {
      this.state = 'claiming';
      return this.terms;
    }
    if (this.state === 'claiming') await this.decided;
    if (this.state === 'given_up') throw new NotClaimedByFirstCall('the step was not claimed by its first model call');
    return undefined;
  }

  /** The first call's reservation claimed the step. */
  claimed(row: ClaimedByReservation): void {
    this.claimedStep = { key: row.key, kind: row.kind as StepKind, attempt: 1, attemptsUsed: 1, dispatchSeq: row.dispatchSeq, input: this.input, deadlineAt: row.deadlineAt };
    this.state = 'claimed';
    this.decide();
    this.resolveClaimed(this.claimedStep);
  }

  /** Not claimed, and no longer to be: returns the error for the call to fail with. */
  giveUp(reason: string): NotClaimedByFirstCall {
    this.close();
    return new NotClaimedByFirstCall(reason);
  }

  /** No call claims the step from now on (the handler ended); a claim made stands. */
  close(): void {
    if (this.state !== 'claimed') this.state = 'given_up';
    this.decide();
  }
}
