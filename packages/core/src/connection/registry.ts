/**
 * The waiting Responses of a connection by field id: what routing looks up for every field
 * received, and what every command adds and, when released, removes.
 *
 * Field ids are given out in increasing order, so registrations are kept in two arrays in id
 * order and found by binary search: a `Map` of thousands of entries (a pipelining client's)
 * costs about a microsecond per insert on the 2-vCPU machines these benchmarks run on, mostly
 * in growing its table, where an array push costs little. A client waiting for one reply at a
 * time uses one slot outside the arrays. An id that does not come after the last one (ids
 * wrapped around, or the same id twice) goes to a `Map`, so any order stays correct.
 */
export class Registry<R> {
  // One registration outside the arrays: a round-trip client registers and releases one id
  // per command, without touching the arrays.
  private slotId = 0
  private slot: R | undefined
  // Registrations in increasing id order; a released one leaves a hole, and the arrays are
  // compacted once half of them are holes.
  private ids: Array<number> = []
  private entries: Array<R | undefined> = []
  private holes = 0
  /** Where the last lookup found its id: replies mostly come in order, so the next is next. */
  private hint = 0
  private readonly others = new Map<number, R>()

  /** The registration for `id`, if any. */
  get(id: number): R | undefined {
    if (this.slot !== undefined && this.slotId === id) return this.slot
    const index = this.indexOf(id)
    if (index >= 0) return this.entries[index]
    return this.others.size === 0 ? undefined : this.others.get(id)
  }

  /** Sets the registration for `id`, replacing any (`combine` merges with it beforehand). */
  set(id: number, value: R): void {
    if (this.slot !== undefined && this.slotId === id) {
      this.slot = value
      return
    }
    const index = this.indexOf(id)
    if (index >= 0) {
      if (this.entries[index] === undefined) this.holes--
      this.entries[index] = value
      return
    }
    if (this.others.has(id)) {
      this.others.set(id, value)
      return
    }
    if (this.slot === undefined) {
      this.slotId = id
      this.slot = value
      return
    }
    const last = this.ids.length - 1
    if (last < 0 || id > (this.ids[last] as number)) {
      this.ids.push(id)
      this.entries.push(value)
      return
    }
    this.others.set(id, value)
  }

  /** Removes the registration for `id`. */
  delete(id: number): void {
    if (this.slot !== undefined && this.slotId === id) {
      this.slot = undefined
      return
    }
    const index = this.indexOf(id)
    if (index >= 0) {
      if (this.entries[index] === undefined) return
      this.entries[index] = undefined
      this.holes++
      if (this.holes * 2 >= this.ids.length) this.compact()
      return
    }
    this.others.delete(id)
  }

  /** Every registration. */
  forEach(f: (value: R) => void): void {
    if (this.slot !== undefined) f(this.slot)
    for (const entry of this.entries) if (entry !== undefined) f(entry)
    for (const value of this.others.values()) f(value)
  }

  /** The index of `id` in the arrays (a hole included), or -1. */
  private indexOf(id: number): number {
    const ids = this.ids
    let low = 0
    let high = ids.length - 1
    if (high < 0 || id < (ids[0] as number) || id > (ids[high] as number)) return -1
    const hint = this.hint
    if (ids[hint] === id) return hint
    if (ids[hint + 1] === id) return (this.hint = hint + 1)
    while (low <= high) {
      const middle = (low + high) >>> 1
      const at = ids[middle] as number
      if (at === id) return (this.hint = middle)
      if (at < id) low = middle + 1
      else high = middle - 1
    }
    return -1
  }

  private compact(): void {
    if (this.holes === this.ids.length) {
      // all released: keep the arrays, empty
      this.ids.length = 0
      this.entries.length = 0
      this.holes = 0
      this.hint = 0
      return
    }
    const ids: Array<number> = []
    const entries: Array<R | undefined> = []
    for (let i = 0; i < this.ids.length; i++) {
      const entry = this.entries[i]
      if (entry === undefined) continue
      ids.push(this.ids[i] as number)
      entries.push(entry)
    }
    this.ids = ids
    this.entries = entries
    this.holes = 0
    this.hint = 0
  }
}
