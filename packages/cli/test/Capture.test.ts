import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as Result from "effect/Result"
import { describe, expect, it } from "vitest"
import * as Capture from "../src/Capture.js"

const vectors = JSON.parse(
  readFileSync(fileURLToPath(new URL("../../core/test/fixtures/codec.json", import.meta.url)), "utf8")
) as { readonly packets: ReadonlyArray<{ readonly name: string; readonly hex: string }> }
const bytes = (hex: string) => Uint8Array.from(Buffer.from(hex, "hex"))
const all = vectors.packets.map((v) => v.hex).join("")

describe("Capture.scanCapture", () => {
  it("finds every packet of a clean capture, at its offset", () => {
    const events = [...Capture.scanCapture(bytes(all))]
    expect(events.every((e) => e._tag === "Packet")).toBe(true)
    let offset = 0
    events.forEach((event, i) => {
      expect(event.offset).toBe(offset)
      offset += (vectors.packets[i]?.hex.length ?? 0) / 2
    })
  })

  it("skips leading garbage up to the first header magic, reporting the range", () => {
    const events = [...Capture.scanCapture(bytes(`00112233445566${all}`))]
    const first = events[0]
    expect(first?._tag).toBe("Malformed")
    if (first?._tag === "Malformed") {
      expect(first).toMatchObject({ offset: 0, length: 7 })
      expect(Capture.describeProblem(first)).toBe(
        "malformed packet at offset 0: bad header magic 00 11 22 33, expected dd cc bb aa (at offset 0); skipped 7 bytes (0..6)"
      )
    }
    expect(events.slice(1).every((e) => e._tag === "Packet")).toBe(true)
  })
})

describe("Capture.parseHex", () => {
  it("ignores whitespace between bytes, any case", () => {
    const parsed = Capture.parseHex(" DD cc\nbb\r\n\taa ")
    expect(Result.isSuccess(parsed) && Array.from(parsed.success)).toEqual([0xdd, 0xcc, 0xbb, 0xaa])
  })
  it("refuses non-hex characters and odd digit counts, naming the character", () => {
    expect(Result.isFailure(Capture.parseHex("ddx0")) && Capture.parseHex("ddx0")).toMatchObject({
      failure: { offset: 2 }
    })
    expect(Result.isFailure(Capture.parseHex("ddc"))).toBe(true)
    expect(Result.isFailure(Capture.parseHex("d d"))).toBe(true)
  })
})
