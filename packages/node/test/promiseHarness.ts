/**
 * What the Promise-API tests share: a test node served with the Promise API itself on a free
 * port of 127.0.0.1, a deferred for handlers that wait on the test, and what a Promise
 * rejected with.
 */
import { type ServeOptions, type Server, serve } from "../src/promise.js"

export const HOST = "127.0.0.1"

/** Replies to `MANY` (one per `N`). */
export const MANY = 5

/**
 * A test node: every command gets its own params back, except `FAIL` (an error reply), `CAUT`
 * (a warning reply), `SLOW` (never answered), `MANY` ({@link MANY} replies, `N` = 1, 2, ...),
 * `NOIS` (two fields of the server's own first, which no Response of the client claims),
 * `BYE` (the server closes the connection after replying) and `GATE` (`N` = 1, then once
 * `gate` resolves, `N` = 2 and 3).
 */
export const testNode = (options: ServeOptions = {}, gate: Promise<void> = Promise.resolve()): Promise<Server> =>
  serve(
    async (field) => {
      switch (field.name) {
        case "GATE":
          await field.reply({ N: 1 })
          await gate
          await field.reply({ N: 2 })
          return field.reply({ N: 3 })
        case "FAIL":
          return field.reply({ ERRO: "bad range", ERRC: 400 })
        case "CAUT":
          return field.reply({ WARN: "low battery", WARC: 7, N: 1 })
        case "SLOW":
          return
        case "MANY":
          for (let n = 1; n <= MANY; n++) await field.reply({ N: n })
          return
        case "NOIS": {
          // commands of the server's own: the client's inbox gets them; nothing answers them
          await (await field.connection.send("STAT", "STAT", { OCON: 1 })).close()
          await (await field.connection.send(field.packetType, "OTHR", { N: 2 })).close()
          return field.reply(field.params)
        }
        case "BYE":
          await field.reply(field.params)
          return field.connection.close()
        default:
          return field.reply(field.params)
      }
    },
    { host: HOST, port: 0, shutdownGrace: 0, ...options }
  )

/** A Promise resolved from outside, for a handler that waits on the test. */
export const deferred = <A = void>() => {
  let resolve: (value: A) => void = () => {}
  const promise = new Promise<A>((done) => {
    resolve = done
  })
  return { promise, resolve }
}

/** What `promise` rejected with; fails the test if it resolves. */
export const rejection = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error("resolved, where a rejection was expected")
}
