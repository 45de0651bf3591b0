import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import type {Json} from '@duckdb/node-api'
import {type LoadedScorecard, loadScorecard, missingRules} from '../analytics/fraud/model.js'
import {DEFAULT_THRESHOLD, HAND_SCORECARD, type OrderScore, scoreOrder} from '../analytics/fraud/rules.js'
import type {Engine} from '../engine/engine.js'
import {UsageError} from '../errors.js'
import type {PurchaseEvent, ShopEvent} from '../events/types.js'
import {failpoint} from '../failpoints.js'
import {type KafkaConnectionOptions, unavailable} from '../kafka/client.js'
import {kafkaClient} from '../kafka/kafkajs-client.js'
import type {RecordProducer} from '../kafka/types.js'
import {listCommitVersions} from '../lake/delta-log.js'
import {FRAUD_ALERTS_SPEC, FRAUD_ALERTS_TABLE, type FraudAlertRow, writeFraudAlertFile} from '../lake/fraud-alerts.js'
import {EVENTS_TABLE, tablePath} from '../lake/lake.js'
import {registerTableView} from '../lake/views.js'
import {registerShopViews} from '../shop/views.js'
import {FraudState, LATE_MARGIN_MS, LONGEST_WINDOW_MS, SESSION_IDLE_MS} from './fraud-state.js'
import type {IngestMetrics} from './metrics.js'
import {TablePositions} from './table-positions.js'

export interface LiveFraudOptions {
  lake: string
  /** The topic ingest reads: alerts record their purchase's position in it, and commit its offsets as txns. */
  topic: string
  /** Ingest's consumer group: its committed offsets tell which alerts surely reached the alerts topic. */
  group: string
  /** Orders scoring at least this (0-100) raise an alert; unless given, the learned model's threshold, else the batch default. */
  threshold?: number
  /** Kafka topic alerts are produced to, after the lake commit. */
  alertsTopic?: string
  connection: KafkaConnectionOptions
}

/** A valid event of a flush that the lake does not hold yet, with its Kafka position. */
export interface FreshEvent {
  event: ShopEvent
  partition: number
  offset: number
}

/** The message produced to the alerts topic (key: order_id). */
export interface FraudAlertMessage {
  order_id: string
  customer_id: string | null
  score: number
  reasons: string[]
  event_time: string
}

/** Checks a --fraud-threshold value. */
export function checkFraudThreshold(threshold: number): void {
  if (!(threshold >= 0 && threshold <= 100)) {
    throw new UsageError('THRESHOLD_INVALID', `--fraud-threshold must be between 0 and 100, not ${threshold}.`, {
      hints: [`--fraud-threshold ${DEFAULT_THRESHOLD}`],
    })
  }
}

/**
 * Scores purchases as ingest takes them, with the batch scorecard (`scoreOrder`: the latest learned model of
 * `<lake>/models/fraud` when there is one, as `ecap analyze fraud --model auto` picks, else the hand-set rules) on features kept as running state
 * (fraud-state.ts) that is restored from the lake at start and after a rebalance. Alerts go to `<lake>/fraud_alerts`
 * in a commit that carries the flush's Kafka offsets as txns, before the events commit, so a replay skips alerts
 * already written (exactly once in the lake); then, with an alerts topic, to Kafka (at least once).
 */
export class LiveFraudScorer {
  state = new FraudState()
  /** What scores: loaded with the state, at start and at each restore, so a model learned meanwhile is taken up. */
  model: LoadedScorecard = {scorecard: HAND_SCORECARD, kind: 'rules', version: null, threshold: null, info: null}
  /** Things that went wrong without harm (a checkpoint after a durable commit). */
  readonly warnings: string[] = []
  scored = 0
  alerts = 0
  published = 0
  /** Alerts produced again at start because no committed Kafka offset confirmed them. */
  resent = 0
  /** How far the alerts table holds the topic. */
  private readonly alertsTable: TablePositions
  private alertsRead = false
  private readonly movedByOthers = new Set<number>()
  /** The events table version the state matches; undefined when it must be restored. */
  private syncedVersion: number | undefined
  private producer: RecordProducer | undefined
  private opened = false
  private metrics: IngestMetrics | undefined

  constructor(private readonly options: LiveFraudOptions) {
    if (options.threshold !== undefined) checkFraudThreshold(options.threshold)
    this.alertsTable = new TablePositions(options.lake, options.topic, FRAUD_ALERTS_SPEC)
  }

  /** Reports the alerts table's commits and the alerts they hold to ingest's metrics. */
  observe(metrics: IngestMetrics): void {
    this.metrics = metrics
    this.alertsTable.observer = metrics.commits
  }

  /** --fraud-threshold when given, else the learned model's threshold, else the batch default. */
  get threshold(): number {
    return this.options.threshold ?? this.model.threshold ?? DEFAULT_THRESHOLD
  }

  /**
   * Rebuilds the state from the lake's events, reading only what the features can reach: per-customer aggregates
   * (first seen, devices, countries, order count and mean, cards, shipping countries), orders of the last 30 days
   * (plus a margin) for the card, country and shop windows, and sessions active in the last two hours.
   */
  async restore(engine: Engine, lake: string): Promise<void> {
    const state = new FraudState()
    this.state = state
    this.model = await loadScorecard(engine, lake, 'auto')
    const missing = missingRules(this.model.scorecard)
    if (missing.length > 0 && !this.warnings.some((w) => w.startsWith('The learned fraud model predates'))) {
      this.warnings.push(
        `The learned fraud model predates the rules ${missing.join(', ')}: they give no points until ecap analyze fraud --learn runs again.`,
      )
    }
    const events = tablePath(lake, EVENTS_TABLE)
    if ((await listCommitVersions(events)).length === 0) return
    await registerShopViews(engine, lake)
    const [latest] = await engine.rows('SELECT epoch_ms(max(event_time)) AS t FROM events')
    if (latest?.t === null || latest?.t === undefined) return
    const end = Number(latest.t)
    const num = (v: Json | undefined) => Number(v)
    const str = (v: Json | undefined) => (v === null || v === undefined ? null : String(v))

    for (const row of await engine.rows(
      `SELECT customer_id, device, ip_country, epoch_ms(min(event_time)) AS first_seen
       FROM events WHERE customer_id IS NOT NULL GROUP BY ALL`,
    )) {
      const c = state.customer(String(row.customer_id))
      const t = num(row.first_seen)
      c.firstSeen = Math.min(c.firstSeen, t)
      const device = String(row.device)
      const ip = String(row.ip_country)
      c.devices.set(device, Math.min(c.devices.get(device) ?? t, t))
      c.ipCountries.set(ip, Math.min(c.ipCountries.get(ip) ?? t, t))
    }
    for (const row of await engine.rows(
      `SELECT customer_id, count(*)::INTEGER AS orders, sum(CAST(total AS DOUBLE)) AS total_sum,
              count(card_fingerprint)::INTEGER AS card_orders,
              list(DISTINCT card_fingerprint) FILTER (WHERE card_fingerprint IS NOT NULL) AS cards,
              list(DISTINCT shipping_country) AS shipped_to
       FROM orders WHERE customer_id IS NOT NULL GROUP BY customer_id`,
    )) {
      const c = state.customer(String(row.customer_id))
      c.orders = num(row.orders)
      c.totalSum = num(row.total_sum)
      c.cardOrders = num(row.card_orders)
      c.cards = new Set(((row.cards as Json[] | null) ?? []).map(String))
      c.shippedTo = new Set(((row.shipped_to as Json[] | null) ?? []).map(String))
    }
    for (const row of await engine.rows(
      `SELECT customer_id, card_fingerprint, ip_country, shipping_country, CAST(total AS DOUBLE) AS total,
              epoch_ms(order_time) AS t
       FROM orders WHERE order_time >= make_timestamptz(${(end - LONGEST_WINDOW_MS - LATE_MARGIN_MS) * 1000})
       ORDER BY order_time`,
    )) {
      const order = {
        customer_id: str(row.customer_id),
        card_fingerprint: str(row.card_fingerprint),
        ip_country: String(row.ip_country),
        shipping_country: String(row.shipping_country),
        total: num(row.total),
      }
      const t = num(row.t)
      // Aggregates came from the query above; only the windows are filled here.
      state.applyOrder(order, t, false)
    }
    for (const row of await engine.rows(
      `SELECT session_id, epoch_ms(min(event_time)) AS start, epoch_ms(max(event_time)) AS last
       FROM events WHERE session_id IN (
         SELECT session_id FROM events WHERE event_time >= make_timestamptz(${(end - SESSION_IDLE_MS) * 1000}))
       GROUP BY session_id`,
    )) {
      state.session(String(row.session_id), num(row.start), num(row.last))
    }
    state.watermark = end
    state.prune()
  }

  /**
   * Scores one event against the state and then records it: a purchase gets its score and reasons, any other
   * event only updates the state. Events must come in time order (per customer at least).
   */
  score(event: ShopEvent): OrderScore | undefined {
    const time = Date.parse(event.event_time)
    const result = event.event_type === 'purchase' ? this.scorePurchase(event, time) : undefined
    this.state.apply(event, time)
    return result
  }

  private scorePurchase(order: PurchaseEvent, time: number): OrderScore {
    this.scored++
    return scoreOrder(this.state.features(order, time), this.model.scorecard)
  }

  /**
   * Scores a flush's fresh events in event-time order. Events of the same millisecond are scored before any of them
   * is recorded, as the batch SQL's frames end just before the order's own instant.
   */
  scoreAll(fresh: FreshEvent[]): {item: FreshEvent; result: OrderScore}[] {
    const timed = fresh.map((item) => ({item, time: Date.parse(item.event.event_time)}))
    timed.sort((a, b) => a.time - b.time || a.item.partition - b.item.partition || a.item.offset - b.item.offset)
    const scored: {item: FreshEvent; result: OrderScore}[] = []
    for (let i = 0; i < timed.length; ) {
      let j = i
      while (j < timed.length && timed[j]?.time === timed[i]?.time) j++
      for (let k = i; k < j; k++) {
        const {item, time} = timed[k] as (typeof timed)[number]
        if (item.event.event_type === 'purchase') scored.push({item, result: this.scorePurchase(item.event, time)})
      }
      for (let k = i; k < j; k++) this.state.apply(timed[k]?.item.event as ShopEvent, timed[k]?.time as number)
      i = j
    }
    return scored
  }

  /**
   * Called by ingest whenever it (re-)reads the lake's offsets: reads the alerts table's txns, restores the state if
   * the events table moved under it, and the first time opens the producer and re-sends alerts that may not have
   * reached the alerts topic before a crash.
   */
  async sync(engine: Engine, eventsVersion: number): Promise<void> {
    await this.readAlertOffsets(engine)
    if (this.syncedVersion !== eventsVersion) {
      await this.restore(engine, this.options.lake)
      this.syncedVersion = eventsVersion
    }
    if (!this.opened) {
      this.opened = true
      if (this.options.alertsTopic) {
        await this.openProducer()
        await this.resendUnconfirmed(engine)
      }
    }
  }

  private async readAlertOffsets(engine: Engine): Promise<void> {
    const before = this.alertsTable.offsets
    await this.alertsTable.read(engine)
    // This member's own commits are recorded before it reads, so whatever moved was written by another.
    if (this.alertsRead) {
      for (const [partition, last] of this.alertsTable.offsets) {
        if (last > (before.get(partition) ?? -1)) this.movedByOthers.add(partition)
      }
    }
    this.alertsRead = true
  }

  /** The partitions whose alerts another member committed since they were last read (then forgotten). */
  takeMovedByOthers(): number[] {
    const moved = [...this.movedByOthers]
    this.movedByOthers.clear()
    return moved
  }

  /** Ingest committed the events of a flush as this version: the state matches it. */
  eventsCommitted(version: number): void {
    if (this.syncedVersion !== undefined) this.syncedVersion = version
  }

  /**
   * One flush: scores the fresh events, commits the alerts not yet in the table (with the flush's txns) and produces
   * them. Returns the number of Delta commits made (0 or 1). Must run before ingest commits the events.
   */
  async flush(engine: Engine, staging: string, fresh: FreshEvent[], last: Map<number, number>): Promise<number> {
    try {
      const scored = this.scoreAll(fresh)
      const scoredAt = Date.now()
      const rows: FraudAlertRow[] = []
      for (const {item, result} of scored) {
        if (result.score < this.threshold) continue
        // Written before a crash that came ahead of the events commit: the replay must not write it again.
        if (item.offset <= (this.alertsTable.offsets.get(item.partition) ?? -1)) continue
        const order = item.event as PurchaseEvent
        rows.push({
          order_id: order.order_id,
          customer_id: order.customer_id,
          event_time: order.event_time,
          score: result.score,
          reasons: result.reasons,
          scored_at: scoredAt,
          topic: this.options.topic,
          partition: item.partition,
          offset: item.offset,
        })
      }
      if (rows.length === 0) return 0
      const file = join(staging, 'fraud-alerts.ndjson')
      writeFileSync(file, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`)
      const add = await writeFraudAlertFile(engine, file, this.options.lake)
      const txns = this.alertsTable.moving(last)
      const committed = await this.alertsTable.commit(engine, [add], txns)
      if (committed.checkpointError !== undefined) {
        this.warnings.push(
          `The ${FRAUD_ALERTS_TABLE} table's checkpoint after version ${committed.version} failed (${committed.checkpointError}); the commit stands.`,
        )
      }
      if (committed.jumped) {
        // Another member committed alerts between our read and our commit (of other partitions, or the commit would
        // have failed): read their txns rather than jump over them, or a partition that moves here later would be
        // judged against a stale record and its alerts written twice.
        await this.readAlertOffsets(engine)
      }
      this.alerts += rows.length
      this.metrics?.alertsCommitted(rows.map((r) => r.partition))
      failpoint('ingest.alerts.produce.before')
      await this.publish(rows)
      return 1
    } catch (error) {
      // The state may hold events the lake never got: restore it before the next flush.
      this.syncedVersion = undefined
      throw error
    }
  }

  async close(): Promise<void> {
    const producer = this.producer
    this.producer = undefined
    await producer?.disconnect().catch(() => {})
  }

  private async openProducer(): Promise<void> {
    const topic = this.options.alertsTopic as string
    const kafka = kafkaClient({...this.options.connection, clientId: 'ecap-ingest-alerts'})
    const admin = kafka.admin()
    try {
      await admin.connect()
      if (!(await admin.listTopics()).includes(topic)) {
        await admin.createTopics({topics: [{topic}], waitForLeaders: true})
      }
      const producer = kafka.producer()
      await producer.connect()
      this.producer = producer
    } catch (error) {
      throw unavailable(error, this.options.connection.brokers)
    } finally {
      await admin.disconnect().catch(() => {})
    }
  }

  private async publish(rows: FraudAlertRow[]): Promise<void> {
    if (!this.producer || rows.length === 0) return
    const messages = rows.map((r) => {
      const value: FraudAlertMessage = {
        order_id: r.order_id,
        customer_id: r.customer_id,
        score: r.score,
        reasons: r.reasons,
        event_time: r.event_time,
      }
      return {key: r.order_id, value: JSON.stringify(value)}
    })
    try {
      await this.producer.send({topic: this.options.alertsTopic as string, messages})
    } catch (error) {
      throw unavailable(error, this.options.connection.brokers)
    }
    this.published += messages.length
  }

  /**
   * Ingest commits Kafka offsets only after a flush, hence after its alerts were produced: an alert at or beyond the
   * group's committed offset of its partition may have been lost with a crash, so it is produced again (at least
   * once). A partition the group has no offset for gets all its alerts again. At start for every partition (or
   * only `partitions`: those a rebalance just gave this member, whose last owner may have died between the two).
   */
  async resendUnconfirmed(engine: Engine, partitions?: number[]): Promise<void> {
    const table = tablePath(this.options.lake, FRAUD_ALERTS_TABLE)
    if (!this.producer || partitions?.length === 0 || (await listCommitVersions(table)).length === 0) return
    const kafka = kafkaClient({...this.options.connection, clientId: 'ecap-ingest-alerts'})
    const admin = kafka.admin()
    const confirmed = new Map<number, number>()
    try {
      await admin.connect()
      const [group] = await admin.fetchOffsets({groupId: this.options.group, topics: [this.options.topic]})
      for (const p of group?.partitions ?? []) confirmed.set(p.partition, Number(p.offset))
    } catch (error) {
      throw unavailable(error, this.options.connection.brokers)
    } finally {
      await admin.disconnect().catch(() => {})
    }
    await registerTableView(engine, '__fraud_alerts', table)
    const rows = await engine.rows(
      `SELECT order_id, customer_id, strftime(event_time, '%Y-%m-%dT%H:%M:%S.%gZ') AS event_time, score, reasons,
              "partition", "offset"
       FROM __fraud_alerts WHERE topic = $1 ORDER BY "partition", "offset"`,
      [this.options.topic],
    )
    const only = partitions && new Set(partitions)
    const unconfirmed = rows.filter(
      (r) =>
        (only === undefined || only.has(Number(r.partition))) &&
        Number(r.offset) >= Math.max(confirmed.get(Number(r.partition)) ?? 0, 0),
    )
    await this.publish(
      unconfirmed.map((r) => ({
        order_id: String(r.order_id),
        customer_id: r.customer_id === null ? null : String(r.customer_id),
        event_time: String(r.event_time),
        score: Number(r.score),
        reasons: (r.reasons as Json[]).map(String),
        scored_at: 0,
        topic: this.options.topic,
        partition: Number(r.partition),
        offset: Number(r.offset),
      })),
    )
    this.resent += unconfirmed.length
  }
}
