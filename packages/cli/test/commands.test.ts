import * as NodeServices from "@effect/platform-node/NodeServices"
import { Value } from "@effect-ncp/core"
import { CliOutput, Command } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { describe, expect, it } from "vitest"
import { VERSION } from "../src/Cli.js"
import * as Decode from "../src/commands/decode.js"
import * as Demo from "../src/commands/demo.js"
import * as Send from "../src/commands/send.js"
import * as Serve from "../src/commands/serve.js"
import * as Sweep from "../src/commands/sweep.js"

const silent = Layer.mergeAll(NodeServices.layer, CliOutput.layerPresenter({ present: () => Effect.void }))

/**
 * Parses `args` with a command built by `make`: the options its handler received, or the
 * messages of the usage errors.
 */
const parse = async <Options, Name extends string, Input, ContextInput>(
  make: (run: (options: Options) => Effect.Effect<void>) => Command.Command<Name, Input, ContextInput, never, never>,
  args: ReadonlyArray<string>
): Promise<{ readonly options: Options | undefined; readonly errors: ReadonlyArray<string> }> => {
  let options: Options | undefined
  const command = make((parsed) =>
    Effect.sync(() => {
      options = parsed
    })
  )
  const exit = await Effect.runPromiseExit(
    Command.runWith(command, { version: VERSION })(args).pipe(Effect.provide(silent))
  )
  if (Exit.isSuccess(exit)) return { options, errors: [] }
  const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error
  const errors = error !== undefined && error._tag === "ShowHelp" ? error.errors.map((e) => e.message) : [String(error)]
  return { options, errors }
}

const errorsOf = async <Options, Name extends string, Input, ContextInput>(
  make: (run: (options: Options) => Effect.Effect<void>) => Command.Command<Name, Input, ContextInput, never, never>,
  args: ReadonlyArray<string>
): Promise<string> => {
  const { options, errors } = await parse(make, args)
  expect(options).toBeUndefined()
  expect(errors.length).toBeGreaterThan(0)
  return errors.join("\n")
}

describe("ncp send", () => {
  it("parses address, packet, field, params and flags", async () => {
    const { options, errors } = await parse(Send.make<never, never>, [
      "node1:9999",
      "DSPC",
      "SWEP",
      "FSTA=2400",
      "GAIN:f32=-3.5",
      "MASK:u8[]=1,2",
      "--tls",
      "--insecure",
      "--user",
      "admin",
      "--password",
      "secret",
      "--timeout",
      "7.5",
      "--count",
      "3",
      "--json"
    ])
    expect(errors).toEqual([])
    expect(options?.connection).toMatchObject({
      host: "node1",
      port: 9999,
      tls: true,
      insecure: true,
      username: "admin",
      timeoutSeconds: 7.5
    })
    expect(options?.connection.password && Redacted.value(options.connection.password)).toBe("secret")
    expect(options?.packetType).toBe("DSPC")
    expect(options?.field).toBe("SWEP")
    expect(options?.params).toEqual([
      { name: "FSTA", value: Value.i32(2400) },
      { name: "GAIN", value: Value.f32(-3.5) },
      { name: "MASK", value: Value.u8Array([1, 2]) }
    ])
    expect(options?.replies).toEqual({ _tag: "Count", count: 3 })
    expect(options?.json).toBe(true)
  })

  it("has defaults: no port, plain, one reply, text output", async () => {
    const { options } = await parse(Send.make<never, never>, ["[::1]", "STAT", "RFLO"])
    expect(options).toEqual({
      connection: {
        host: "::1",
        port: undefined,
        tls: false,
        insecure: false,
        username: undefined,
        password: undefined,
        timeoutSeconds: undefined
      },
      packetType: "STAT",
      field: "RFLO",
      params: [],
      replies: { _tag: "Count", count: 1 },
      json: false
    })
  })

  it("takes --follow", async () => {
    const { options } = await parse(Send.make<never, never>, ["h", "DSPC", "SWEP", "--follow"])
    expect(options?.replies).toEqual({ _tag: "Follow" })
  })

  it("refuses bad input with a message naming it", async () => {
    expect(await errorsOf(Send.make<never, never>, ["h:0", "DSPC", "SWEP"])).toContain("port 0 is outside 1-65535")
    expect(await errorsOf(Send.make<never, never>, ["h", "dspc", "SWEP"])).toContain("NCP identifier")
    expect(await errorsOf(Send.make<never, never>, ["h", "DSPC", "SWEP", "N:u8[]=256"])).toContain('param "N"')
    expect(await errorsOf(Send.make<never, never>, ["h", "DSPC"])).toContain("field")
    expect(await errorsOf(Send.make<never, never>, ["h", "DSPC", "SWEP", "--count", "2", "--follow"])).toContain(
      "--count and --follow exclude each other"
    )
    expect(await errorsOf(Send.make<never, never>, ["h", "DSPC", "SWEP", "--count", "0"])).toContain("--count")
    expect(await errorsOf(Send.make<never, never>, ["h", "DSPC", "SWEP", "--insecure"])).toContain(
      "--insecure only applies with --tls"
    )
    expect(await errorsOf(Send.make<never, never>, ["h", "DSPC", "SWEP", "--password", "p"])).toContain(
      "--password needs --user"
    )
    expect(await errorsOf(Send.make<never, never>, ["h", "DSPC", "SWEP", "--timeout", "0"])).toContain("--timeout")
  })
})

describe("ncp sweep", () => {
  it("parses the range, chart size and connection flags", async () => {
    const { options, errors } = await parse(Sweep.make<never, never>, [
      "node1",
      "--start",
      "88e6",
      "--stop",
      "108000000",
      "--width",
      "60",
      "--height",
      "10",
      "--count",
      "2",
      "--user",
      "u",
      "--password",
      "p"
    ])
    expect(errors).toEqual([])
    expect(options).toMatchObject({
      startHz: 88e6,
      stopHz: 108e6,
      width: 60,
      height: 10,
      json: false,
      sweeps: { _tag: "Count", count: 2 },
      connection: { host: "node1", port: undefined, username: "u" }
    })
  })

  it("defaults to a 72x16 chart of one sweep", async () => {
    const { options } = await parse(Sweep.make<never, never>, ["n", "--start", "1e6", "--stop", "2e6"])
    expect(options).toMatchObject({ width: 72, height: 16, sweeps: { _tag: "Count", count: 1 } })
  })

  it("needs a range with stop above start", async () => {
    expect(await errorsOf(Sweep.make<never, never>, ["n", "--stop", "2e6"])).toContain("--start")
    expect(await errorsOf(Sweep.make<never, never>, ["n", "--start", "2e6", "--stop", "1e6"])).toContain(
      "--stop must be above --start"
    )
    expect(await errorsOf(Sweep.make<never, never>, ["n", "--start", "abc", "--stop", "1e6"])).toContain("--start")
    expect(await errorsOf(Sweep.make<never, never>, ["n", "--start", "1", "--stop", "2", "--width", "3"])).toContain(
      "--width"
    )
  })
})

describe("ncp serve", () => {
  it("defaults to plain NCP on 127.0.0.1:9999 without auth", async () => {
    const { options } = await parse(Serve.make<never, never>, [])
    expect(options).toEqual({
      host: "127.0.0.1",
      port: 9999,
      tls: undefined,
      auth: undefined,
      echo: false,
      timeoutSeconds: undefined
    })
  })

  it("parses TLS from files, auth, echo and timeout", async () => {
    const file = new URL(import.meta.url).pathname
    const { options, errors } = await parse(Serve.make<never, never>, [
      "--host",
      "0.0.0.0",
      "--port",
      "4443",
      "--tls-cert",
      file,
      "--tls-key",
      file,
      "--auth",
      "admin:pa:ss",
      "--echo",
      "--timeout",
      "30"
    ])
    expect(errors).toEqual([])
    expect(options).toMatchObject({
      host: "0.0.0.0",
      port: 4443,
      tls: { _tag: "Files", certFile: file, keyFile: file },
      echo: true,
      timeoutSeconds: 30
    })
    expect(options?.auth?.username).toBe("admin")
    expect(options?.auth && Redacted.value(options.auth.password)).toBe("pa:ss")
  })

  it("parses a self-signed certificate", async () => {
    const { options } = await parse(Serve.make<never, never>, ["--tls-self-signed"])
    expect(options?.tls).toEqual({ _tag: "SelfSigned" })
  })

  it("refuses inconsistent TLS flags, bad ports and bad auth", async () => {
    const file = new URL(import.meta.url).pathname
    expect(await errorsOf(Serve.make<never, never>, ["--tls-cert", file])).toContain(
      "--tls-cert and --tls-key go together"
    )
    expect(
      await errorsOf(Serve.make<never, never>, ["--tls-self-signed", "--tls-cert", file, "--tls-key", file])
    ).toContain("--tls-self-signed excludes")
    expect(await errorsOf(Serve.make<never, never>, ["--tls-cert", "/no/such/file", "--tls-key", file])).toContain(
      "tls-cert"
    )
    expect(await errorsOf(Serve.make<never, never>, ["--port", "70000"])).toContain("--port")
    expect(await errorsOf(Serve.make<never, never>, ["--auth", "nocolon"])).toContain("USER:PASS")
  })
})

describe("ncp decode and ncp demo", () => {
  it("decode reads standard input by default", async () => {
    expect((await parse(Decode.make<never, never>, [])).options).toEqual({ input: "-", hex: false, packets: false })
    expect((await parse(Decode.make<never, never>, ["cap.hex", "--hex", "--packets"])).options).toEqual({
      input: "cap.hex",
      hex: true,
      packets: true
    })
  })

  it("demo takes the chart size", async () => {
    expect((await parse(Demo.make<never, never>, [])).options).toEqual({ width: 72, height: 16 })
    expect((await parse(Demo.make<never, never>, ["--width", "100"])).options).toEqual({ width: 100, height: 16 })
  })
})
