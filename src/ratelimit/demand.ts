/**
 * Demand counters shared by every token store. The cluster agent reports, per interval, how many tokens a limit
 * granted and refused on this node; the manager weights each node's lease by that demand (after Doorman).
 */

/** Tokens granted and refused (one token per request, so requests, in practice). */
export interface Demand {
  readonly admitted: number;
  readonly rejected: number;
}

export class DemandCounters {
  protected admittedTotal = 0;
  protected rejectedTotal = 0;
  private admittedMark = 0;
  private rejectedMark = 0;

  /** Tokens granted since creation. */
  get admitted(): number {
    return this.admittedTotal;
  }

  /** Tokens refused since creation. */
  get rejected(): number {
    return this.rejectedTotal;
  }

  /** Counts a refusal decided outside the store (a request with no client key, say). */
  countRejected(n = 1): void {
    this.rejectedTotal += n;
  }

  /** The demand since the previous call (or since creation), and starts a new interval. Totals are unchanged. */
  takeDemand(): Demand {
    const demand = {
      admitted: this.admittedTotal - this.admittedMark,
      rejected: this.rejectedTotal - this.rejectedMark,
    };
    this.admittedMark = this.admittedTotal;
    this.rejectedMark = this.rejectedTotal;
    return demand;
  }
}
