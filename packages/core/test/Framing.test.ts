import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import fc from "fast-check"
import { CodecError, Framing, Json } from "../src/index.js"
import codec from "./fixtures/codec.json" with { type: "json" }
import { bytesOf } from "./util.js"

const packets = codec.packets.map((vector) => bytesOf(vector.hex))
const expected = codec.packets.map((vector) => JSON.parse(JSON.stringify(vector.decoded)))
const all = (() => {
  const total = packets.reduce((n, p) => n + p.length, 0)
  const out = new Uint8Array(total)
  let at = 0
  for (const p of packets) {
    out.set(p, at)
    at += p.length
  }
  return out
})()

const splitAt = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...new Set(cuts.map((c) => Math.min(Math.max(c, 0), bytes.length)))].sort((a, b) => a - b)
  const chunks: Array<Uint8Array> = []
  let start = 0
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, point))
    start = point
  }
  return chunks
}

const decodeChunks = (chunks: ReadonlyArray<Uint8Array>, options?: Framing.FramingOptions) =>
  Stream.fromIterable(chunks).pipe(
    Framing.decodePackets(options),
    Stream.map((decoded) => JSON.parse(JSON.stringify(Json.fromPacket(decoded.packet)))),
    Stream.runCollect
  )

describe("Framing", () => {
  it.effect("decodes concatenated packets in one chunk", () =>
    Effect.gen(function* () {
      expect(yield* decodeChunks([all])).toEqual(expected)
    })
  )

  it.effect("gives the same packets in 1-byte chunks", () =>
    Effect.gen(function* () {
      const chunks = Array.from(all, (byte) => Uint8Array.of(byte))
      expect(yield* decodeChunks(chunks)).toEqual(expected)
    })
  )

  it.effect("gives the same packets when split in two at every position", () =>
    Effect.gen(function* () {
      for (let cut = 0; cut <= all.length; cut++) {
        expect(yield* decodeChunks(splitAt(all, [cut]))).toEqual(expected)
      }
    })
  )

  it("property: the same packets whatever the chunk split", () =>
    fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: all.length }), { maxLength: 40 }), async (cuts) => {
        const decoded = await Effect.runPromise(decodeChunks(splitAt(all, cuts)))
        expect(decoded).toEqual(expected)
      }),
      { numRuns: 200 }
    ))

  it.effect("an empty stream is no packets, not an error", () =>
    Effect.gen(function* () {
      expect(yield* decodeChunks([])).toEqual([])
    })
  )

  it.effect("ending inside a packet is a Truncated decode error at the packet's offset", () =>
    Effect.gen(function* () {
      const first = packets[0] as Uint8Array
      const exit = yield* Effect.exit(decodeChunks([all.subarray(0, first.length + 20)]))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(decodeChunks([all.subarray(0, first.length + 20)]))
      expect(error).toBeInstanceOf(CodecError.DecodeError)
      expect(error).toMatchObject({ reason: "Truncated", offset: first.length })
    })
  )

  it.effect("packets before a broken one are delivered, then the error", () =>
    Effect.gen(function* () {
      const garbage = new Uint8Array(16).fill(0x55)
      const bytes = new Uint8Array(all.length + garbage.length)
      bytes.set(all)
      bytes.set(garbage, all.length)
      const seen: Array<unknown> = []
      const error = yield* Stream.make(bytes).pipe(
        Framing.decodePackets(),
        Stream.runForEach((decoded) => Effect.sync(() => seen.push(decoded.packet.type))),
        Effect.flip
      )
      expect(seen).toEqual(expected.map((p) => p.packet_type))
      expect(error).toMatchObject({ reason: "HeaderMagic", offset: all.length })
    })
  )

  it.effect("refuses a size above maxPacketBytes from the header alone, without waiting for the body", () =>
    Effect.gen(function* () {
      const huge = codec.malformed.find((v) => v.name === "huge-declared-size")
      const header = bytesOf(huge?.hex ?? "").subarray(0, 12)
      // The body never comes: a framer that waited for it would hang here.
      const error = yield* Stream.make(header).pipe(
        Stream.concat(Stream.never),
        Framing.decodePackets(),
        Stream.runDrain,
        Effect.flip
      )
      expect(error).toMatchObject({ reason: "PacketTooLarge", offset: 8 })
      expect(error.message).toContain("67108864")
    })
  )

  it.effect("maxPacketBytes is configurable", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(decodeChunks([all], { maxPacketBytes: 64 }))
      expect(error).toMatchObject({ reason: "PacketTooLarge" })
    })
  )

  it.effect("encodePackets then decodePackets round-trips", () =>
    Effect.gen(function* () {
      const input = [
        {
          type: "DSPC",
          id: 1,
          timestamp: { seconds: 1, nanos: 2 },
          fields: [{ name: "SWEP", id: 9, params: { FSTA: 10 } }]
        },
        { type: "LINK", id: 0, timestamp: { seconds: 3, nanos: 0 }, fields: [] }
      ]
      const out = yield* Stream.fromIterable(input).pipe(
        Framing.encodePackets,
        Framing.decodePackets(),
        Stream.map((d) => ({ type: d.packet.type, fields: d.packet.fields.map((f) => f.name) })),
        Stream.runCollect
      )
      expect(out).toEqual([
        { type: "DSPC", fields: ["SWEP"] },
        { type: "LINK", fields: [] }
      ])
    })
  )

  it.effect("pulls no more input than it needs (backpressure)", () =>
    Effect.gen(function* () {
      let pulled = 0
      const source = Stream.fromIterable(packets).pipe(Stream.tap(() => Effect.sync(() => pulled++)))
      const first = yield* source.pipe(Framing.decodePackets(), Stream.take(1), Stream.runCollect)
      expect(first.length).toBe(1)
      expect(pulled).toBe(1)
    })
  )
})
