const MS_PER_DAY = 86_400_000
const HOURS_PER_WEEK = 168

/** Relative traffic by hour of day (UTC): quiet at night, a lunch bump and an evening peak. */
const HOURLY = [
  0.25, 0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.55, 0.8, 0.95, 1.0, 1.1, 1.25, 1.2, 1.1, 1.05, 1.1, 1.25, 1.5, 1.75, 1.85,
  1.6, 1.1, 0.6,
]
/** Relative traffic by day of week, Monday first: busier on Sunday and Monday evenings, quieter on Saturday. */
const DAILY = [1.05, 1.0, 0.98, 0.97, 0.95, 0.88, 1.17]

/**
 * Daily and weekly seasonality as a time change. Purchase and visit processes run in "operational time", in which
 * their rates are constant (so the BG/NBD story holds exactly there); a monotone map turns operational days into
 * calendar instants so that busy hours get more of them. Over whole weeks the two clocks agree, so counts per week
 * and the fitted rates stay as the parameters say.
 */
export class Seasonality {
  /** Operational days elapsed at the start of each hour of the week. */
  private readonly cumulative = new Float64Array(HOURS_PER_WEEK + 1)
  /** Operational days per calendar hour, for each hour of the week. */
  private readonly perHour = new Float64Array(HOURS_PER_WEEK)
  /** Calendar ms of a Monday 00:00 UTC at or before the start: the origin of both clocks. */
  private readonly originMs: number

  constructor(startMs: number, enabled = true) {
    const weights = new Float64Array(HOURS_PER_WEEK)
    let sum = 0
    for (let h = 0; h < HOURS_PER_WEEK; h++) {
      const w = enabled ? (HOURLY[h % 24] as number) * (DAILY[Math.floor(h / 24)] as number) : 1
      weights[h] = w
      sum += w
    }
    for (let h = 0; h < HOURS_PER_WEEK; h++) {
      // Normalised so one calendar week is seven operational days.
      const opDays = ((weights[h] as number) / sum) * 7
      this.perHour[h] = opDays
      this.cumulative[h + 1] = (this.cumulative[h] as number) + opDays
    }
    const startDay = Math.floor(startMs / MS_PER_DAY)
    const weekday = (new Date(startDay * MS_PER_DAY).getUTCDay() + 6) % 7 // Monday = 0
    this.originMs = (startDay - weekday) * MS_PER_DAY
  }

  /** Operational days since the origin at calendar instant `ms`. */
  toOperational(ms: number): number {
    const hours = (ms - this.originMs) / 3_600_000
    const weeks = Math.floor(hours / HOURS_PER_WEEK)
    const inWeek = hours - weeks * HOURS_PER_WEEK
    const h = Math.min(Math.floor(inWeek), HOURS_PER_WEEK - 1)
    return weeks * 7 + (this.cumulative[h] as number) + (inWeek - h) * (this.perHour[h] as number)
  }

  /** Calendar ms at operational day `op`; the inverse of toOperational. */
  toCalendar(op: number): number {
    const weeks = Math.floor(op / 7)
    const rest = op - weeks * 7
    let lo = 0
    let hi = HOURS_PER_WEEK - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if ((this.cumulative[mid] as number) <= rest) lo = mid
      else hi = mid - 1
    }
    const hours = weeks * HOURS_PER_WEEK + lo + (rest - (this.cumulative[lo] as number)) / (this.perHour[lo] as number)
    return this.originMs + hours * 3_600_000
  }
}
