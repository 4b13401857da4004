/**
 * Codec benchmark, one JSON line per case.
 *
 * Rates: encode and decode rates of three packet shapes. Decoding includes building every
 * param value; data arrays are views on the packet bytes, so `decode_copy_per_s` also gives
 * the rate with `{ copy: true }`, which copies every array. Each rate is the median of several
 * timed rounds, so one noisy round does not decide the figure.
 *
 * Hostile packets (`"kind": "hostile"`): a 64 MiB packet of 5.6 M empty fields, a field of
 * 8.4 M empty raw params, 64 MiB of empty raw params in 2,048 fields, the 262,144 empty raw
 * params the default caps let through, and as many params of an unknown type code. For each: the time to
 * refuse it with the default caps (`maxFieldsPerPacket`, `maxParamsPerField`,
 * `maxParamsPerPacket`), and,
 * with the caps raised so it decodes, the time of a one-shot decode, the heap it retains, and
 * with a `Decoder.PacketDecoder` at `Limits.decodeStepBudget`, yielding to the event loop between
 * steps as a connection's reader does, the number of steps, the median, 99th percentile and
 * longest step, and the event loop's longest delay meanwhile (`loop_delay_max_ms`: the most
 * other connections wait; a long one is usually a garbage collection of the records already
 * decoded, which only fewer records avoid).
 *
 * The script is bundled with esbuild and run on plain Node, as users run compiled code.
 *
 *   npm run bench:codec
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import * as Result from "effect/Result"
import { Decoder, Encoder, Limits, Packet } from "../src/index.js"

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 300)

const i32 = (value: number) => ({ type: "i32" as const, value })
const timestamp = { seconds: 1_700_000_000, nanos: 0 }

const small: Packet.PacketInput = {
  type: "DSPC",
  id: 1,
  timestamp,
  fields: [
    {
      name: "TIME",
      id: 1,
      params: [
        { name: "FCTR", value: i32(2400) },
        { name: "FCTM", value: i32(120) },
        { name: "RBME", value: i32(10) },
        { name: "RBMI", value: i32(0) },
        { name: "LSEC", value: i32(0) },
        { name: "LNAN", value: i32(1_000_000) }
      ]
    }
  ]
}

const sweep = new Uint8Array(4096).map((_, i) => (i * 7) & 0xff)
const sweep4k: Packet.PacketInput = {
  type: "DSPC",
  id: 1,
  timestamp,
  fields: [
    {
      name: "SWEP",
      id: 1,
      params: [
        { name: "FSTA", value: i32(10000) },
        { name: "FSTP", value: i32(18000) },
        { name: "INPT", value: i32(1) },
        { name: "BDEX", value: i32(1) },
        { name: "BINP", value: i32(2) },
        { name: "PDAT", value: { type: "u8[]", value: sweep } }
      ]
    }
  ]
}

const iq = new Int16Array(1_048_576).map((_, i) => (i * 31) & 0x7fff)
const iq2m: Packet.PacketInput = {
  type: "DSPC",
  id: 1,
  timestamp,
  fields: [
    {
      name: "TIME",
      id: 1,
      params: [
        { name: "FCTR", value: i32(2400) },
        { name: "DIQT", value: { type: "i16[]", value: iq } }
      ]
    }
  ]
}

let sink = 0

/** Operations per second, the median over ROUNDS rounds of about ROUND_MS each. */
const rate = (operation: () => void): number => {
  // calibrate a batch size that takes about 10 ms, after a warm-up
  for (let i = 0; i < 50; i++) operation()
  let batch = 1
  for (;;) {
    const start = performance.now()
    for (let i = 0; i < batch; i++) operation()
    if (performance.now() - start > 10) break
    batch *= 2
  }
  const rates: Array<number> = []
  for (let round = 0; round < ROUNDS; round++) {
    let count = 0
    const start = performance.now()
    let elapsed = 0
    while (elapsed < ROUND_MS) {
      for (let i = 0; i < batch; i++) operation()
      count += batch
      elapsed = performance.now() - start
    }
    rates.push((count * 1000) / elapsed)
  }
  rates.sort((a, b) => a - b)
  return rates[Math.floor(rates.length / 2)] ?? 0
}

for (const [name, packet] of [
  ["small", small],
  ["sweep4k", sweep4k],
  ["iq2m", iq2m]
] as const) {
  const bytes = Encoder.encodePacketOrThrow(packet)
  const encodePerSecond = rate(() => {
    sink ^= Encoder.encodePacketOrThrow(packet).length
  })
  const decodePerSecond = rate(() => {
    sink ^= Decoder.decodePacketOrThrow(bytes).packet.fields.length
  })
  const decodeCopyPerSecond = rate(() => {
    sink ^= Decoder.decodePacketOrThrow(bytes, { copy: true }).packet.fields.length
  })
  console.log(
    JSON.stringify({
      impl: "effect-ncp",
      case: name,
      bytes: bytes.length,
      encode_per_s: Math.round(encodePerSecond),
      decode_per_s: Math.round(decodePerSecond),
      decode_copy_per_s: Math.round(decodeCopyPerSecond),
      encode_mb_per_s: Math.round((encodePerSecond * bytes.length) / 1e6),
      decode_mb_per_s: Math.round((decodePerSecond * bytes.length) / 1e6),
      decode_copy_mb_per_s: Math.round((decodeCopyPerSecond * bytes.length) / 1e6)
    })
  )
}

// Hostile packets, built word by word (the encoder would need the same millions of objects).

v8.setFlagsFromString("--expose-gc")
const gc: () => void = vm.runInNewContext("gc")
const heapMb = () => {
  gc()
  return process.memoryUsage().heapUsed / 2 ** 20
}

/** A packet of the given body size, the body written by `fill(view, bodyStart)`. */
const hostilePacket = (bodyBytes: number, fill: (view: DataView, at: number) => void): Uint8Array => {
  const size = Packet.HEADER_BYTES + bodyBytes + Packet.FOOTER_BYTES
  const bytes = new Uint8Array(size)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, Packet.HEADER_MAGIC, true)
  view.setUint32(4, 0x43505344, true) // "DSPC"
  view.setUint32(8, size / 4, true)
  view.setUint32(12, 1, true)
  view.setUint32(16, Packet.FORMAT_VERSION, true)
  view.setUint32(20, 1_700_000_000, true)
  fill(view, Packet.HEADER_BYTES)
  view.setUint32(size - 4, Packet.FOOTER_MAGIC, true)
  return bytes
}

const EMPT = 0x54504d45 // "EMPT"
const PARAM = 0x4d524150 // "PARM"

const emptyFields = (count: number) =>
  hostilePacket(count * 12, (view, at) => {
    for (let i = 0; i < count; i++, at += 12) {
      view.setUint32(at, EMPT, true)
      view.setUint32(at + 4, 3, true)
    }
  })

/** `fields` fields of `perField` params of `code` with no value bytes. */
const emptyParams = (fields: number, perField: number, code: number) =>
  hostilePacket(fields * (12 + perField * 8), (view, at) => {
    for (let f = 0; f < fields; f++) {
      view.setUint32(at, EMPT, true)
      view.setUint32(at + 4, 3 + perField * 2, true)
      at += 12
      for (let i = 0; i < perField; i++, at += 8) {
        view.setUint32(at, PARAM, true)
        view.setUint32(at + 4, (2 | (code << 24)) >>> 0, true)
      }
    }
  })

/** One turn of the event loop, as a connection's reader yields between decode steps. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

const hostile = async (name: string, bytes: Uint8Array, raised: Decoder.DecodeOptions) => {
  const refusedStart = performance.now()
  const refused = Decoder.decodePacket(bytes)
  const refusedMs = performance.now() - refusedStart
  const refusal = Result.isFailure(refused) ? refused.failure.reason : "decoded"

  const before = heapMb()
  const start = performance.now()
  let decoded: Decoder.Decoded | undefined = Decoder.decodePacketOrThrow(bytes, raised)
  const decodeMs = performance.now() - start
  const retained = heapMb() - before
  const { fields } = decoded.packet
  const records = fields.length + fields.reduce((n, field) => n + field.params.length, 0)
  const warnings = decoded.warningCount
  const keptWarnings = decoded.warnings.length
  decoded = undefined
  gc()

  // Stepped as a connection's reader does it: a turn of the event loop between steps, so the
  // collector can work between them; the loop's longest delay is what other connections feel.
  const decoder = new Decoder.PacketDecoder(bytes, raised)
  const stepMs: Array<number> = []
  const loopDelay = monitorEventLoopDelay({ resolution: 1 })
  loopDelay.enable()
  const stepped = performance.now()
  for (;;) {
    const stepStart = performance.now()
    const result = decoder.step(Limits.decodeStepBudget)
    stepMs.push(performance.now() - stepStart)
    if (result !== undefined) {
      if (Result.isFailure(result)) throw result.failure
      break
    }
    await turn()
  }
  const steppedMs = performance.now() - stepped
  loopDelay.disable()
  stepMs.sort((a, b) => a - b)
  const quantile = (q: number) => stepMs[Math.min(stepMs.length - 1, Math.floor(q * stepMs.length))] ?? 0
  console.log(
    JSON.stringify({
      impl: "effect-ncp",
      kind: "hostile",
      case: name,
      bytes: bytes.length,
      records,
      warnings,
      kept_warnings: keptWarnings,
      default_caps: refusal,
      refused_ms: round(refusedMs),
      decode_ms: round(decodeMs),
      heap_retained_mb: round(retained),
      step_budget: Limits.decodeStepBudget,
      steps: stepMs.length,
      stepped_ms: round(steppedMs),
      median_step_ms: round(quantile(0.5)),
      p99_step_ms: round(quantile(0.99)),
      longest_step_ms: round(quantile(1)),
      loop_delay_max_ms: round(loopDelay.max / 1e6)
    })
  )
}

const round = (n: number) => Math.round(n * 100) / 100
const unlimited = {
  maxFieldsPerPacket: Number.POSITIVE_INFINITY,
  maxParamsPerField: Number.POSITIVE_INFINITY,
  maxParamsPerPacket: Number.POSITIVE_INFINITY
}

// Within the default caps first, while the heap is small: the larger cases leave the heap
// grown, and later collections slower, which would be counted against the small ones.
// The most empty raw params the default caps let through: 64 fields of 4,096 (262,144 in all).
await hostile("empty-raw-params-256k", emptyParams(64, 4096, 0x80), unlimited)
// As many params of type code 0x99 (a warning each): 64 fields of 4,096.
await hostile("unknown-type-params-256k", emptyParams(64, 4096, 0x99), unlimited)
// Refused by the default caps: 64 MiB of 12-byte fields; one field of as many 8-byte params as
// a field can hold (2^24-1 words); 64 MiB of empty raw params in 2,048 fields of 4,096.
await hostile("empty-fields-64mib", emptyFields(Math.floor((64 * 2 ** 20 - 40) / 12)), unlimited)
await hostile("empty-raw-params-8m", emptyParams(1, Math.floor((0xffffff * 4 - 12) / 8), 0x80), unlimited)
await hostile("empty-raw-params-64mib", emptyParams(2048, 4096, 0x80), unlimited)

if (sink === 0.5) console.log("unreachable")
