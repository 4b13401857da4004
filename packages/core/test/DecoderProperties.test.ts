import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import fc from "fast-check"
import * as NcpArbitrary from "../src/Arbitrary.js"
import { CodecError, Decoder, Encoder, Framing, type Packet } from "../src/index.js"
import { bufferAt, expectPlain, freshCopy, pooledAt } from "./buffers.js"
import codec from "./fixtures/codec.json" with { type: "json" }
import du64 from "./fixtures/ncplib-echo-du64.json" with { type: "json" }
import { bytesOf } from "./util.js"

// Synchronous and bounded by construction; the timeout turns a runaway loop into a failure.
const TIMEOUT = 60_000
const runs = { numRuns: 150 }

const packets = NcpArbitrary.packet({ exact: false, unknownTypes: true, maxArrayLength: 24 })

const encodeOk = (packet: Packet.PacketInput): Uint8Array => Result.getOrThrow(Encoder.encodePacket(packet))

/** The decode of a fresh, aligned, plain copy of the bytes: what every other input must give. */
const reference = (bytes: Uint8Array, baseOffset = 0): Decoder.Decoded =>
  Result.getOrThrow(Decoder.decodePacket(freshCopy(bytes), { baseOffset }))

const expectSameDecode = (input: Uint8Array, expected: Decoder.Decoded, what: string, baseOffset = 0) => {
  for (const copy of [false, true]) {
    const result = Decoder.decodePacket(input, { copy, baseOffset })
    if (Result.isFailure(result)) throw new Error(`${what}: ${result.failure.message}`)
    expectPlain(result.success, { bytes: input, copy })
    expect(result.success, `${what}${copy ? " (copy)" : ""}`).toStrictEqual(expected)
  }
}

/** Cut points (sorted, unique, inside) splitting `length` bytes into chunks. */
const chunksOf = (bytes: Buffer, cuts: ReadonlyArray<number>): Array<Buffer> => {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b)
  const chunks: Array<Buffer> = []
  let start = 0
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, point))
    start = point
  }
  return chunks
}

const vectorBytes = [...codec.packets, ...codec.values, ...codec.legacy, du64].map((vector) => bytesOf(vector.hex))

describe("decoding is the same from any Buffer at any offset", () => {
  it(
    "property: every packet decodes from a Buffer at every offset 0-7 exactly as from a fresh aligned Uint8Array, with and without copy",
    () =>
      fc.assert(
        fc.property(packets, (packet) => {
          const bytes = encodeOk(packet)
          const expected = reference(bytes)
          for (let offset = 0; offset < 8; offset++) {
            expectSameDecode(bufferAt(bytes, offset), expected, `Buffer at offset ${offset}`)
            expectSameDecode(pooledAt(bytes, offset), expected, `pooled Buffer at offset ${offset}`)
          }
        }),
        runs
      ),
    TIMEOUT
  )

  it(
    "property: packets inside one Buffer.concat of several, at any offset, decode each as alone",
    () =>
      fc.assert(
        fc.property(fc.array(packets, { minLength: 1, maxLength: 4 }), fc.nat({ max: 7 }), (list, offset) => {
          const encoded = list.map(encodeOk)
          const shared = Buffer.concat([Buffer.alloc(offset, 0xaa), ...encoded, Buffer.alloc(3, 0xbb)])
          let at = offset
          for (const bytes of encoded) {
            expectSameDecode(shared.subarray(at, at + bytes.length), reference(bytes), `packet at ${at}`)
            at += bytes.length
          }
        }),
        runs
      ),
    TIMEOUT
  )

  it(
    "every vector decodes from a Buffer at every offset 0-7, inside a concat of all of them too",
    () => {
      for (const bytes of vectorBytes) {
        const expected = reference(bytes)
        for (let offset = 0; offset < 8; offset++) {
          expectSameDecode(bufferAt(bytes, offset), expected, `vector at offset ${offset}`)
          expectSameDecode(pooledAt(bytes, offset), expected, `pooled vector at offset ${offset}`)
        }
      }
      for (let offset = 0; offset < 8; offset++) {
        const shared = Buffer.concat([Buffer.alloc(offset), ...vectorBytes])
        let at = offset
        for (const bytes of vectorBytes) {
          expectSameDecode(shared.subarray(at, at + bytes.length), reference(bytes), `vector at ${at} of a concat`)
          at += bytes.length
        }
      }
    },
    TIMEOUT
  )
})

describe("framing Buffer chunks split anywhere", () => {
  /** Frames the chunks with a PacketFramer and decodes each packet with the stream offset as base. */
  const frameAll = (chunks: ReadonlyArray<Uint8Array>, copy: boolean): Array<Decoder.Decoded> => {
    const framer = new Framing.PacketFramer()
    const out: Array<Decoder.Decoded> = []
    for (const chunk of chunks) {
      framer.push(chunk)
      for (;;) {
        const offset = framer.offset
        const next = framer.next()
        if (next === undefined) break
        if (next instanceof CodecError.DecodeError) throw next
        expect(Object.getPrototypeOf(next)).toBe(Uint8Array.prototype)
        const decoded = Result.getOrThrow(Decoder.decodePacket(next, { copy, baseOffset: offset }))
        expectPlain(decoded)
        out.push(decoded)
      }
    }
    expect(framer.end()).toBeUndefined()
    return out
  }

  const referencesOf = (encoded: ReadonlyArray<Uint8Array>): Array<Decoder.Decoded> => {
    let at = 0
    return encoded.map((bytes) => {
      const expected = reference(bytes, at)
      at += bytes.length
      return expected
    })
  }

  it(
    "property: PacketFramer over Buffer chunks, split anywhere and starting at any offset, gives plain packets decoding as alone",
    () =>
      fc.assert(
        fc.property(
          fc.array(packets, { minLength: 1, maxLength: 4 }),
          fc.nat({ max: 7 }),
          fc.array(fc.nat(), { maxLength: 12 }),
          fc.boolean(),
          (list, offset, cuts, copy) => {
            const encoded = list.map(encodeOk)
            const stream = Buffer.concat([Buffer.alloc(offset), ...encoded]).subarray(offset)
            expect(frameAll(chunksOf(stream, cuts), copy)).toStrictEqual(referencesOf(encoded))
          }
        ),
        runs
      ),
    TIMEOUT
  )

  it(
    "every vector through PacketFramer in Buffer chunks split at every position",
    () => {
      const stream = Buffer.concat([Buffer.alloc(5), ...vectorBytes]).subarray(5)
      const expected = referencesOf(vectorBytes)
      for (let cut = 0; cut <= stream.length; cut += 7) {
        expect(frameAll(chunksOf(stream, [cut, cut + 3]), cut % 2 === 0)).toStrictEqual(expected)
      }
    },
    TIMEOUT
  )

  it(
    "property: Framing.decodePackets over Buffer chunks gives plain values equal to the in-memory decode",
    () =>
      fc.assert(
        fc.asyncProperty(
          fc.array(packets, { minLength: 1, maxLength: 3 }),
          fc.array(fc.nat(), { maxLength: 8 }),
          fc.boolean(),
          async (list, cuts, copy) => {
            const encoded = list.map(encodeOk)
            const stream = Buffer.concat([Buffer.alloc(3), ...encoded]).subarray(3)
            const decoded = await Effect.runPromise(
              Stream.fromIterable(chunksOf(stream, cuts)).pipe(
                Framing.decodePackets({ copy, decodeStepBudget: 3 }),
                Stream.runCollect
              )
            )
            for (const one of decoded) expectPlain(one)
            expect(decoded).toStrictEqual(referencesOf(encoded))
          }
        ),
        { numRuns: 60 }
      ),
    TIMEOUT
  )
})

describe("PacketDecoder steps", () => {
  it(
    "property: stepping with any budget gives exactly the one-shot result, for packets and for corrupted bytes",
    () =>
      fc.assert(
        fc.property(
          packets,
          fc.integer({ min: 1, max: 9 }),
          fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { nil: undefined }),
          (packet, budget, corruption) => {
            const bytes = freshCopy(encodeOk(packet))
            if (corruption !== undefined) bytes[corruption[0] % bytes.length] = corruption[1]
            const decoder = new Decoder.PacketDecoder(bytes, { maxParamsPerField: 5 })
            let result = decoder.step(budget)
            for (let steps = 1; result === undefined; steps++) {
              expect(steps).toBeLessThan(bytes.length)
              result = decoder.step(budget)
            }
            expect(result).toStrictEqual(Decoder.decodePacket(bytes, { maxParamsPerField: 5 }))
          }
        ),
        { numRuns: 300 }
      ),
    TIMEOUT
  )
})
