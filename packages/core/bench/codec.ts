/**
 * Codec benchmark: encode and decode rates of three packet shapes, one JSON line per case.
 * Decoding includes building every param value; data arrays are views on the packet bytes, so
 * `decode_copy_per_s` also gives the rate with `{ copy: true }`, which copies every array. Each
 * rate is the median of several timed rounds, so one noisy round does not decide the figure.
 * The script is bundled with esbuild and run on plain Node, as users run compiled code.
 *
 *   npm run bench:codec
 */
import { decodePacketOrThrow, encodePacketOrThrow, type Packet } from "../src/index.js"

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
  const bytes = encodePacketOrThrow(packet)
  const encodePerSecond = rate(() => {
    sink ^= encodePacketOrThrow(packet).length
  })
  const decodePerSecond = rate(() => {
    sink ^= decodePacketOrThrow(bytes).packet.fields.length
  })
  const decodeCopyPerSecond = rate(() => {
    sink ^= decodePacketOrThrow(bytes, { copy: true }).packet.fields.length
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
if (sink === 0.5) console.log("unreachable")
