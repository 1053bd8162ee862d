/**
 * Counts event-loop turns cheaply: `current()` returns a number that changes once per turn in which it was
 * asked (one shared setImmediate per turn, not one per caller). Connections use it to reset their
 * per-turn read budget.
 */
export class TurnClock {
  #turn = 0;
  #scheduled = false;
  readonly #advance = (): void => {
    this.#turn++;
    this.#scheduled = false;
  };

  /** The current turn number; it changes in the check phase of this turn. */
  current(): number {
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#advance);
    }
    return this.#turn;
  }
}

/** The clock shared by every connection of the process. */
export const turnClock = new TurnClock();
