import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import { TestConsole } from "effect/testing"
import { describe, expect, it } from "vitest"
import * as Log from "../src/Log.js"

const entry = (
  message: unknown,
  options: { cause?: Cause.Cause<unknown>; annotations?: Record<string, unknown> } = {}
) =>
  Log.format({
    logLevel: "Warn",
    message,
    cause: options.cause ?? Cause.empty,
    annotations: options.annotations ?? {}
  })

describe("Log", () => {
  it("writes an entry as one line: level, message, annotations as key=value", () => {
    expect(entry("the node changed the timeout", { annotations: { ncp: "TimeoutChanged", requested: 100 } })).toBe(
      "ncp: warning: the node changed the timeout [ncp=TimeoutChanged requested=100]"
    )
  })

  it("escapes line breaks and control characters in the message and annotations", () => {
    const line = entry("first\nsecond\r\u0007", { annotations: { detail: "a\nb" } })
    expect([...line].every((char) => char >= " ")).toBe(true)
    expect(line).toBe('ncp: warning: first\\nsecond\\r\\u0007 [detail="a\\nb"]')
  })

  it("quotes annotation values with spaces, quotes, brackets or nothing in them; objects as JSON", () => {
    expect(entry("m", { annotations: { a: "two words", b: "", c: { x: 1n }, d: [1, 2] } })).toBe(
      'ncp: warning: m [a="two words" b="" c="{\\"x\\":\\"1\\"}" d="[1,2]"]'
    )
  })

  it("gives a cause as its messages, without a stack trace", () => {
    const cause = Cause.combine(Cause.die(new RangeError("offset out of range")), Cause.fail("bad"))
    const line = entry("connection failed", { cause })
    expect(line).toBe("ncp: warning: connection failed: RangeError: offset out of range; bad")
  })

  it("writes through console.error, so logs land on stderr", async () => {
    const errors = await Effect.runPromise(
      Effect.gen(function* () {
        yield* Effect.logWarning("careful").pipe(Effect.annotateLogs({ ncp: "CommandWarning" }))
        yield* Effect.logInfo("hello", { n: 1 })
        return { errors: yield* TestConsole.errorLines, logs: yield* TestConsole.logLines }
      }).pipe(Effect.provide(Log.layer), Effect.provide(TestConsole.layer))
    )
    expect(errors).toEqual({
      errors: ["ncp: warning: careful [ncp=CommandWarning]", 'ncp: info: hello {"n":1}'],
      logs: []
    })
  })
})
