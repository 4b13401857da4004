/**
 * What the clustered fleet keeps in the cluster's database: the fleet's nodes, and each
 * command's claim, by which a command delivered again after a failover finds that it ran
 * before. In SQL (Postgres), or in memory for a cluster of one process.
 *
 * @internal
 */
import * as Arr from "effect/Array"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Request from "effect/Request"
import * as RequestResolver from "effect/RequestResolver"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import { causeText } from "./details.js"

/** The cluster's database failed; the operation was not done. */
export class FleetStorageError extends Schema.TaggedError<FleetStorageError>()("FleetStorageError", {
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message(): string {
    return this.cause === undefined ? this.detail : `${this.detail}: ${causeText(this.cause)}`
  }
}

/** What the clustered fleet keeps in the cluster's database. */
export interface FleetStorageService {
  /** The fleet's nodes, by key, in the order they were added. */
  readonly nodes: Effect.Effect<ReadonlyArray<string>, FleetStorageError>
  /** Whether `node` is in the fleet. */
  readonly has: (node: string) => Effect.Effect<boolean, FleetStorageError>
  /** Adds `node` to the fleet; `false` when it was in it. */
  readonly add: (node: string) => Effect.Effect<boolean, FleetStorageError>
  /** Removes `node` from the fleet; `false` when it was not in it. */
  readonly remove: (node: string) => Effect.Effect<boolean, FleetStorageError>
  /**
   * Claims a command by its cluster request id, before it is sent to `node`: `true` the first
   * time, `false` when it was claimed before (a re-delivery after its runner was lost).
   */
  readonly claim: (requestId: string, node: string) => Effect.Effect<boolean, FleetStorageError>
}

/** How long a command's claim is kept: far longer than any re-delivery, which follows a failover. */
export const claimRetention: Duration.Duration = Duration.hours(1)

/**
 * The longest a statement of the fleet's storage may take: a database that hangs (rather than
 * fails) makes it fail with a `FleetStorageError`, so no call of the fleet waits on it for ever.
 */
export const statementTimeout: Duration.Duration = Duration.seconds(10)

/** The claims the in-memory storage keeps, the oldest dropped first: a bound in memory. */
const memoryClaims = 100_000

/** Whether a node is in the fleet, asked with the others of the same moment. */
class Membership extends Request.Class<{ readonly node: string }, boolean, FleetStorageError> {}

/** A command's claim, batched with the others of the same moment. */
class Claim extends Request.Class<
  { readonly requestId: string; readonly node: string; readonly sequence: number },
  boolean,
  FleetStorageError
> {}

/** Adds `item` to `set`: whether it was not in it. */
const addNew = (set: Set<string>, item: string): boolean => {
  if (set.has(item)) return false
  set.add(item)
  return true
}

/**
 * The clustered fleet's storage: in the cluster's SQL database ({@link FleetStorage.layerSql},
 * Postgres, beside the cluster's own tables), or in memory for one process
 * ({@link FleetStorage.layerMemory}, with `TestRunner`).
 */
export class FleetStorage extends Context.Service<FleetStorage, FleetStorageService>()(
  "@effect-ncp/core/ClusterFleet/FleetStorage"
) {
  /**
   * Storage in the `SqlClient`'s database (Postgres): tables `ncp_fleet_nodes` and
   * `ncp_fleet_deliveries`, created when missing; claims older than {@link claimRetention}
   * deleted every few minutes.
   */
  static readonly layerSql: Layer.Layer<FleetStorage, FleetStorageError, SqlClient.SqlClient> = Layer.effect(
    FleetStorage,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const failed = (detail: string) => (cause: unknown) => new FleetStorageError({ detail, cause })
      /** A statement within {@link statementTimeout}, its failure a `FleetStorageError` saying what it was for. */
      const bounded = <A, E>(detail: string, statement: Effect.Effect<A, E>): Effect.Effect<A, FleetStorageError> =>
        statement.pipe(
          Effect.mapError(failed(detail)),
          Effect.timeoutOrElse({
            duration: statementTimeout,
            orElse: () =>
              Effect.fail(
                new FleetStorageError({
                  detail: `${detail}: the database did not answer within ${Duration.format(statementTimeout)}`
                })
              )
          })
        )
      // Several runners start at once: a racing CREATE TABLE can fail on the catalog's unique
      // index, and the next try finds the table.
      yield* Effect.all(
        [
          sql`CREATE TABLE IF NOT EXISTS ncp_fleet_nodes (
            node TEXT PRIMARY KEY,
            seq BIGSERIAL NOT NULL,
            added_at TIMESTAMPTZ NOT NULL DEFAULT now()
          )`,
          sql`CREATE TABLE IF NOT EXISTS ncp_fleet_deliveries (
            request_id TEXT PRIMARY KEY,
            node TEXT NOT NULL,
            claimed_at TIMESTAMPTZ NOT NULL DEFAULT now()
          )`
        ],
        { discard: true }
      ).pipe(
        Effect.retry({ times: 5, schedule: Schedule.spaced("200 millis") }),
        Effect.mapError(failed("cannot create the fleet's tables"))
      )
      // A fan-out brings a runner many commands at once: their claims go in one statement.
      let sequence = 0
      const claims = RequestResolver.make<Claim>((entries) => {
        const rows = Arr.map(entries, ({ request }) => ({ request_id: request.requestId, node: request.node }))
        return bounded(
          "cannot claim commands",
          sql<{ readonly request_id: string }>`INSERT INTO ncp_fleet_deliveries ${sql.insert(rows)}
            ON CONFLICT DO NOTHING RETURNING request_id`
        ).pipe(
          Effect.match({
            onFailure: (error) => {
              for (const entry of entries) entry.completeUnsafe(Exit.fail(error))
            },
            onSuccess: (inserted) => {
              // an id twice in one batch (never in practice) is claimed by its first entry alone
              const fresh = new Set(inserted.map((row) => row.request_id))
              for (const entry of entries) {
                entry.completeUnsafe(Exit.succeed(fresh.delete(entry.request.requestId)))
              }
            }
          })
        )
      })
      // After a failover a runner starts many nodes' entities at once, each asking whether its
      // node is in the fleet: one statement for them all.
      const memberships = RequestResolver.make<Membership>((entries) =>
        bounded(
          "cannot read the fleet's nodes",
          sql<{ readonly node: string }>`SELECT node FROM ncp_fleet_nodes WHERE ${sql.in(
            "node",
            entries.map(({ request }) => request.node)
          )}`
        ).pipe(
          Effect.match({
            onFailure: (error) => {
              for (const entry of entries) entry.completeUnsafe(Exit.fail(error))
            },
            onSuccess: (rows) => {
              const members = new Set(rows.map((row) => row.node))
              for (const entry of entries) entry.completeUnsafe(Exit.succeed(members.has(entry.request.node)))
            }
          })
        )
      )
      const retention = `${Math.round(Duration.toSeconds(claimRetention))} seconds`
      yield* bounded(
        "cannot delete old claims",
        sql`DELETE FROM ncp_fleet_deliveries WHERE claimed_at < now() - ${retention}::interval`
      ).pipe(
        Effect.andThen(Effect.sleep("5 minutes")),
        Effect.forever,
        Effect.catchCause((cause) => Effect.logWarning("ClusterFleet: cannot delete old claims", cause)),
        Effect.forkScoped
      )
      return FleetStorage.of({
        nodes: bounded(
          "cannot read the fleet's nodes",
          sql<{ readonly node: string }>`SELECT node FROM ncp_fleet_nodes ORDER BY seq`
        ).pipe(Effect.map((rows) => rows.map((row) => row.node))),
        has: (node) => Effect.request(new Membership({ node }), memberships),
        add: (node) =>
          bounded(
            `cannot add ${node} to the fleet`,
            sql`INSERT INTO ncp_fleet_nodes (node) VALUES (${node}) ON CONFLICT DO NOTHING RETURNING node`
          ).pipe(Effect.map((rows) => rows.length > 0)),
        remove: (node) =>
          bounded(
            `cannot remove ${node} from the fleet`,
            sql`DELETE FROM ncp_fleet_nodes WHERE node = ${node} RETURNING node`
          ).pipe(Effect.map((rows) => rows.length > 0)),
        claim: (requestId, node) =>
          Effect.suspend(() => Effect.request(new Claim({ requestId, node, sequence: sequence++ }), claims))
      })
    })
  )

  /** Storage in this process's memory: for a cluster of one process (`TestRunner`), as in tests. */
  static readonly layerMemory: Layer.Layer<FleetStorage> = Layer.sync(FleetStorage, () => {
    // a Set keeps insertion order: the fleet's order
    const nodes = new Set<string>()
    const claims = new Set<string>()
    const claim = (requestId: string): boolean => {
      if (!addNew(claims, requestId)) return false
      // bounded, as the SQL storage deletes old claims: the oldest goes first
      if (claims.size > memoryClaims) claims.delete(claims.values().next().value as string)
      return true
    }
    return FleetStorage.of({
      nodes: Effect.sync(() => Array.from(nodes)),
      has: (node) => Effect.sync(() => nodes.has(node)),
      add: (node) => Effect.sync(() => addNew(nodes, node)),
      remove: (node) => Effect.sync(() => nodes.delete(node)),
      claim: (requestId) => Effect.sync(() => claim(requestId))
    })
  })
}
