/**
 * What must still happen before a publish may be confirmed or a commit answered: one hold per step (the
 * routing itself, each durable queue that has to write the message to its log…). Holds are released in any
 * order; when the last one is, the callback runs once with `true`. A failed hold settles at once with
 * `false` (the publish is refused: basic.nack); holds released after that change nothing.
 *
 *            hold()                        release() of the last hold
 *   pending ───────▶ pending (n+1)  pending ──────────────────────────▶ settled (ok)
 *      │
 *      └──fail() of any hold──▶ settled (failed)          (release/fail once settled: ignored)
 *
 * It starts with one hold, its owner's: the owner adds the others while it works, then releases its own,
 * so nothing settles before every hold has been added.
 */

/** One step a publish or commit waits for. Each is released (or failed) once; repeats are ignored. */
export interface Hold {
  release(): void;
  fail(): void;
}

/** Where a step that must finish first takes its hold (a publish's confirm, a commit's commit-ok). */
export interface HoldSource {
  hold(): Hold;
}

export class PendingHolds implements Hold, HoldSource {
  #count = 1;
  #ownerReleased = false;
  #settled = false;
  readonly #onSettled: (ok: boolean) => void;

  constructor(onSettled: (ok: boolean) => void) {
    this.#onSettled = onSettled;
  }

  /** True once every hold was released, or one failed. */
  get settled(): boolean {
    return this.#settled;
  }

  /** Holds not released yet (the owner's included). */
  get count(): number {
    return this.#count;
  }

  /** Adds a hold; the publish or commit now also waits for it. */
  hold(): Hold {
    if (this.#settled) return SETTLED_HOLD;
    this.#count++;
    let done = false;
    return {
      release: () => {
        if (done) return;
        done = true;
        this.#release();
      },
      fail: () => {
        if (done) return;
        done = true;
        this.#fail();
      },
    };
  }

  /** Releases the owner's hold. */
  release(): void {
    if (this.#ownerReleased) return;
    this.#ownerReleased = true;
    this.#release();
  }

  /** Fails through the owner's hold. */
  fail(): void {
    if (this.#ownerReleased) return;
    this.#ownerReleased = true;
    this.#fail();
  }

  #release(): void {
    if (this.#settled) return;
    if (--this.#count === 0) {
      this.#settled = true;
      this.#onSettled(true);
    }
  }

  #fail(): void {
    if (this.#settled) return;
    this.#count--;
    this.#settled = true;
    this.#onSettled(false);
  }
}

const SETTLED_HOLD: Hold = { release: () => {}, fail: () => {} };
