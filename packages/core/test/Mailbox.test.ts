/** The routing primitive: a bounded, selective mailbox whose items may count against a byte budget. */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { ByteBudget } from "../src/connection/budget.js"
import { Mailbox } from "../src/connection/mailbox.js"
import { failureOf } from "./util.js"

const settle = Effect.gen(function* () {
  for (let i = 0; i < 10; i++) yield* Effect.yieldNow
})

describe("Mailbox", () => {
  it.effect("take waits for the first item matching, leaving the others queued in order", () =>
    Effect.gen(function* () {
      const mailbox = new Mailbox<number, string>(10)
      const even = yield* Effect.forkChild(mailbox.take((n) => n % 2 === 0))
      yield* settle
      expect(mailbox.offerNow(1)).toBeUndefined()
      expect(mailbox.offerNow(3)).toBeUndefined()
      expect(mailbox.offerNow(4)).toBeUndefined()
      expect(yield* Fiber.join(even)).toBe(4)
      expect(mailbox.size).toBe(2)
      expect(yield* mailbox.take()).toBe(1)
      expect(yield* mailbox.take()).toBe(3)
    })
  )

  it.effect("offerNow hands a full mailbox's offer back as an Effect that waits for room", () =>
    Effect.gen(function* () {
      const mailbox = new Mailbox<number, string>(2)
      mailbox.offerNow(1)
      mailbox.offerNow(2)
      const wait = mailbox.offerNow(3)
      expect(wait).toBeDefined()
      const offering = yield* Effect.forkChild(wait ?? Effect.void)
      yield* settle
      expect(offering.pollUnsafe()).toBeUndefined()
      expect(yield* mailbox.take()).toBe(1)
      yield* Fiber.join(offering)
      expect(yield* mailbox.takeAll()).toEqual([2, 3])
    })
  )

  it.effect("offerDroppingOldest keeps the newest within the item and byte limits", () =>
    Effect.gen(function* () {
      const mailbox = new Mailbox<string, string>(3)
      expect(mailbox.offerDroppingOldest("a", 10, 100)).toBe(0)
      expect(mailbox.offerDroppingOldest("b", 10, 100)).toBe(0)
      expect(mailbox.offerDroppingOldest("c", 10, 100)).toBe(0)
      expect(mailbox.offerDroppingOldest("d", 10, 100)).toBe(1)
      // a large one pushes out all but itself, and is kept even alone above the byte limit
      expect(mailbox.offerDroppingOldest("huge", 500, 100)).toBe(3)
      expect(yield* mailbox.takeAll()).toEqual(["huge"])
    })
  )

  it.effect("queued items count against the budget until taken, drained or discarded", () =>
    Effect.gen(function* () {
      const total = new ByteBudget(1000)
      const budget = new ByteBudget(100, total)
      const mailbox = new Mailbox<string, string>(10, budget)
      mailbox.offerNow("a", 60)
      mailbox.offerNow("b", 50)
      expect([budget.used, total.used, budget.full]).toEqual([110, 110, true])
      expect(yield* mailbox.take()).toBe("a")
      expect([budget.used, budget.full]).toEqual([50, false])
      mailbox.offerNow("c", 30)
      expect(mailbox.drain()).toEqual(["b", "c"])
      expect(budget.used).toBe(0)
      mailbox.offerNow("d", 40)
      mailbox.discard("gone")
      expect([budget.used, total.used]).toEqual([0, 0])
      // an item handed straight to a waiting taker never counts
      const direct = new Mailbox<string, string>(10, budget)
      const taking = yield* Effect.forkChild(direct.take())
      yield* settle
      direct.offerNow("e", 70)
      expect(yield* Fiber.join(taking)).toBe("e")
      expect(budget.used).toBe(0)
    })
  )

  it.effect("end fails waiting takes; queued items can still be taken, then takes fail", () =>
    Effect.gen(function* () {
      const mailbox = new Mailbox<number, string>(10)
      const waiting = yield* Effect.forkChild(Effect.exit(mailbox.take((n) => n > 100)))
      yield* settle
      mailbox.offerNow(1)
      mailbox.end("closed")
      expect(failureOf(yield* Fiber.join(waiting))).toBe("closed")
      expect(yield* mailbox.take()).toBe(1)
      expect(failureOf(yield* Effect.exit(mailbox.take()))).toBe("closed")
      // offers after the end are discarded
      expect(mailbox.offerNow(2)).toBeUndefined()
      expect(mailbox.size).toBe(0)
    })
  )

  it.effect("end wakes a waiting offer, which then discards its item", () =>
    Effect.gen(function* () {
      const mailbox = new Mailbox<number, string>(1)
      mailbox.offerNow(1)
      const offering = yield* Effect.forkChild(mailbox.offerNow(2) ?? Effect.void)
      yield* settle
      mailbox.end("closed")
      yield* Fiber.join(offering)
      expect(mailbox.size).toBe(1)
    })
  )

  it.effect("failWaiters fails the takes waiting now and leaves the mailbox open", () =>
    Effect.gen(function* () {
      const mailbox = new Mailbox<number, string>(10)
      const waiting = yield* Effect.forkChild(Effect.exit(mailbox.take()))
      yield* settle
      mailbox.failWaiters("error reply")
      expect(failureOf(yield* Fiber.join(waiting))).toBe("error reply")
      mailbox.offerNow(7)
      expect(yield* mailbox.take()).toBe(7)
    })
  )

  it.effect(
    "an item handed over as its taker is interrupted is not lost: the taker has it, or it is queued again",
    () =>
      Effect.gen(function* () {
        const mailbox = new Mailbox<number, string>(10)
        const taking = yield* Effect.forkChild(mailbox.take())
        yield* settle
        mailbox.offerNow(1)
        mailbox.offerNow(2)
        yield* Fiber.interrupt(taking)
        const exit = yield* Fiber.await(taking)
        const taken = exit._tag === "Success" ? [exit.value] : []
        expect([...taken, ...(yield* mailbox.takeAll())]).toEqual([1, 2])
      })
  )
})
