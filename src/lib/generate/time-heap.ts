/** Something scheduled at a calendar instant; `seq` breaks ties so the order never depends on heap internals. */
export interface Timed {
  time: number
  seq: number
}

/** A binary min-heap ordered by (time, seq). */
export class TimeHeap<T extends Timed> {
  private readonly items: T[] = []

  get size(): number {
    return this.items.length
  }

  peek(): T | undefined {
    return this.items[0]
  }

  push(item: T): void {
    const items = this.items
    items.push(item)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = items[parent] as T
      if (!before(item, p)) break
      items[i] = p
      i = parent
    }
    items[i] = item
  }

  pop(): T | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (items.length > 0 && last !== undefined) {
      items[0] = last
      this.siftDown(0)
    }
    return top
  }

  /** Re-establishes order after the top item's key grew (cheaper than pop + push). */
  topChanged(): void {
    this.siftDown(0)
  }

  private siftDown(start: number): void {
    const items = this.items
    const n = items.length
    const item = items[start] as T
    let i = start
    for (;;) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      let child = left
      if (right < n && before(items[right] as T, items[left] as T)) child = right
      const c = items[child] as T
      if (!before(c, item)) break
      items[i] = c
      i = child
    }
    items[i] = item
  }
}

function before(a: Timed, b: Timed): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq)
}
