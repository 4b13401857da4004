import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import type * as Socket from "effect/socket/Socket"
import * as TestClock from "effect/testing/TestClock"
import * as MemorySocket from "../src/MemorySocket.js"

const bytes = (...values: ReadonlyArray<number>) => Uint8Array.from(values)

const concat = (chunks: ReadonlyArray<Uint8Array>): Array<number> => chunks.flatMap((chunk) => [...chunk])

/** The reason of the SocketError a pull failed with. */
const failureReason = <A>(exit: Exit.Exit<A, Socket.SocketError>) => {
  if (Exit.isSuccess(exit)) return undefined
  const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  return error?._tag === "Fail" ? error.error.reason : undefined
}

/** Reads until the socket fails, returning the bytes read and the failure's reason. */
const readAll = (pull: Effect.Effect<ReadonlyArray<Uint8Array | string>, Socket.SocketError>) =>
  Effect.gen(function* () {
    const received: Array<number> = []
    for (;;) {
      const exit = yield* Effect.exit(pull)
      if (Exit.isSuccess(exit)) {
        for (const chunk of exit.value) if (typeof chunk !== "string") received.push(...chunk)
      } else {
        return { received, reason: failureReason(exit) }
      }
    }
  })

describe("MemorySocket", () => {
  it.effect("carries bytes both ways: an echo round trip", () =>
    Effect.gen(function* () {
      const [client, server] = yield* MemorySocket.pair()
      const serverPull = (yield* server.reader).pull
      const serverWrite = (yield* server.writer).write
      yield* Effect.forkScoped(
        Effect.forever(Effect.flatMap(serverPull, (chunks) => Effect.forEach(chunks, serverWrite)))
      )
      const pull = (yield* client.reader).pull
      const writer = yield* client.writer
      yield* writer.write(bytes(1, 2, 3))
      yield* writer.writeAll([bytes(4), "A"])
      const received: Array<number> = []
      while (received.length < 5) received.push(...concat((yield* pull) as ReadonlyArray<Uint8Array>))
      expect(received).toEqual([1, 2, 3, 4, 65])
    })
  )

  it.effect("a pull takes every chunk waiting, in order", () =>
    Effect.gen(function* () {
      const [a, b] = yield* MemorySocket.pair()
      const writer = yield* a.writer
      yield* writer.write(bytes(1))
      yield* writer.write(bytes(2, 3))
      const chunks = yield* (yield* b.reader).pull
      expect(chunks.map((chunk) => [...(chunk as Uint8Array)])).toEqual([[1], [2, 3]])
    })
  )

  it.effect("with a capacity, write waits for the reader (backpressure)", () =>
    Effect.gen(function* () {
      const [a, b] = yield* MemorySocket.pair({ capacity: 2 })
      const writer = yield* a.writer
      const writing = yield* Effect.forkChild(Effect.forEach([1, 2, 3, 4], (n) => writer.write(bytes(n))))
      yield* Effect.yieldNow
      expect(writing.pollUnsafe()).toBeUndefined()
      const pull = (yield* b.reader).pull
      const first = yield* pull
      yield* Fiber.join(writing)
      const second = yield* pull
      expect(concat([...first, ...second] as Array<Uint8Array>)).toEqual([1, 2, 3, 4])
    })
  )

  it.effect("releasing the writer is a graceful close: the peer reads the rest, then code 1000", () =>
    Effect.gen(function* () {
      const [a, b] = yield* MemorySocket.pair()
      const writerScope = yield* Scope.make()
      const writer = yield* Scope.provide(a.writer, writerScope)
      yield* writer.write(bytes(1, 2))
      yield* writer.write(bytes(3))
      yield* Scope.close(writerScope, Exit.void)
      const { received, reason } = yield* readAll((yield* b.reader).pull)
      expect(received).toEqual([1, 2, 3])
      expect(reason).toMatchObject({ _tag: "SocketCloseError", code: 1000 })
      // the other direction stays open (half-close)
      const backWriter = yield* b.writer
      yield* backWriter.write(bytes(9))
      expect(concat((yield* (yield* a.reader).pull) as ReadonlyArray<Uint8Array>)).toEqual([9])
    })
  )

  it.effect("releasing the reader fails a parked pull with 1006 and closes the connection", () =>
    Effect.gen(function* () {
      const [a, b] = yield* MemorySocket.pair()
      const readerScope = yield* Scope.make()
      const pull = (yield* Scope.provide(a.reader, readerScope)).pull
      const parked = yield* Effect.forkChild(Effect.exit(pull))
      yield* Effect.yieldNow
      const aWriter = yield* a.writer
      yield* aWriter.write(bytes(7))
      yield* Scope.close(readerScope, Exit.void)
      expect(failureReason(yield* Fiber.join(parked))).toMatchObject({ _tag: "SocketCloseError", code: 1006 })
      expect(failureReason(yield* Effect.exit(pull))).toMatchObject({ _tag: "SocketCloseError", code: 1006 })
      // the peer reads what was sent, then a graceful close; its writes now fail
      const { received, reason } = yield* readAll((yield* b.reader).pull)
      expect(received).toEqual([7])
      expect(reason).toMatchObject({ _tag: "SocketCloseError", code: 1000 })
      const bWriter = yield* b.writer
      expect(failureReason(yield* Effect.exit(bWriter.write(bytes(1))))).toMatchObject({ _tag: "SocketWriteError" })
    })
  )

  it.effect("reset drops unread bytes and fails both ends as a TCP reset", () =>
    Effect.gen(function* () {
      const [a, b] = yield* MemorySocket.pair()
      const aWriter = yield* a.writer
      yield* aWriter.write(bytes(1, 2, 3))
      const bPull = (yield* b.reader).pull
      const aPull = (yield* a.reader).pull
      const parked = yield* Effect.forkChild(Effect.exit(aPull))
      yield* Effect.yieldNow
      yield* a.reset
      const reason = failureReason(yield* Effect.exit(bPull))
      expect(reason).toMatchObject({ _tag: "SocketReadError", cause: { code: "ECONNRESET" } })
      expect(failureReason(yield* Fiber.join(parked))).toMatchObject({ _tag: "SocketReadError" })
      expect(failureReason(yield* Effect.exit(aWriter.write(bytes(4))))).toMatchObject({ _tag: "SocketWriteError" })
      const bWriter = yield* b.writer
      expect(failureReason(yield* Effect.exit(bWriter.write(bytes(4))))).toMatchObject({ _tag: "SocketWriteError" })
    })
  )

  it.effect("runs under TestClock: a read timeout fires only when the clock moves", () =>
    Effect.gen(function* () {
      const [a, b] = yield* MemorySocket.pair()
      const pull = (yield* b.reader).pull
      const reading = yield* Effect.forkChild(Effect.exit(Effect.timeout(pull, "30 seconds")))
      yield* TestClock.adjust("29 seconds")
      const aWriter = yield* a.writer
      yield* aWriter.write(bytes(5))
      const exit = yield* Fiber.join(reading)
      expect(Exit.isSuccess(exit) && concat(exit.value as ReadonlyArray<Uint8Array>)).toEqual([5])
      const idle = yield* Effect.forkChild(Effect.exit(Effect.timeout(pull, "30 seconds")))
      yield* TestClock.adjust("30 seconds")
      const timedOut = yield* Fiber.join(idle)
      expect(Exit.isFailure(timedOut)).toBe(true)
    })
  )
})
