/**
 * Self-signed TLS certificates made on the spot, with `node:crypto` only (no OpenSSL binary,
 * no dependency): for tests, and for `ncp serve --tls-self-signed`. A client trusts one by
 * passing the certificate as `ca`.
 *
 * @example
 * ```ts
 * import { SelfSignedCertificate } from "@effect-ncp/node"
 *
 * const { key, cert } = SelfSignedCertificate.generate({ hosts: ["localhost", "127.0.0.1"] })
 * // server: NodeListener.make({ port: 0, tls: { key, cert } })
 * // client: tls: { ca: cert }
 * ```
 *
 * @module
 * @since 0.1.0
 */

import * as Crypto from "node:crypto"
import * as Net from "node:net"
import { Bytes } from "@effect-ncp/core"

/** Options of {@link generate}. */
export interface Options {
  /** The subject's common name. Default: the first of `hosts`, else `"localhost"`. */
  readonly commonName?: string | undefined
  /**
   * The DNS names and IP addresses (v4 or v6) the certificate is valid for, put in its subject
   * alternative names (TLS clients check those, not the common name).
   * Default `["localhost", "127.0.0.1"]`.
   */
  readonly hosts?: ReadonlyArray<string> | undefined
  /** Days of validity from now. Default 1. */
  readonly days?: number | undefined
}

/** A private key and its certificate, both PEM. */
export interface SelfSignedCertificate {
  /** The private key, PKCS#8 PEM. */
  readonly key: string
  /** The certificate, PEM. */
  readonly cert: string
}

/**
 * Generates an EC P-256 key and a self-signed X.509 v3 certificate for it (ECDSA with SHA-256),
 * valid from a minute ago (tolerating clock skew) for `days` days.
 */
export const generate = (options: Options = {}): SelfSignedCertificate => {
  const hosts = options.hosts ?? ["localhost", "127.0.0.1"]
  const commonName = options.commonName ?? hosts[0] ?? "localhost"
  const days = options.days ?? 1
  const { privateKey, publicKey } = Crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" })
  // the SubjectPublicKeyInfo DER is exactly the structure the certificate embeds
  const publicKeyInfo = new Uint8Array(publicKey.export({ type: "spki", format: "der" }))
  const serial = new Uint8Array(Crypto.randomBytes(16))
  // serial numbers must be positive and non-zero (RFC 5280 4.1.2.2): clear the sign bit, set a low one
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x01
  const now = Date.now()
  const name = sequence(set(sequence(objectId(OID.commonName), utf8String(commonName))))
  const signatureAlgorithm = sequence(objectId(OID.ecdsaWithSha256))
  const alternativeNames = sequence(
    ...hosts.map(
      (host) =>
        Net.isIP(host) === 0
          ? tagged(0x82, utf8.encode(host)) // [2] dNSName
          : tagged(0x87, ipAddressBytes(host)) // [7] iPAddress
    )
  )
  const extensions = explicit(
    3,
    sequence(
      // CA:TRUE, critical: OpenSSL then accepts the certificate as its own trust anchor (`ca`)
      sequence(objectId(OID.basicConstraints), boolean(true), octetString(sequence(boolean(true)))),
      sequence(objectId(OID.subjectAltName), octetString(alternativeNames))
    )
  )
  const toBeSigned = sequence(
    explicit(0, integer(Uint8Array.of(2))), // version v3
    integer(serial),
    signatureAlgorithm,
    name, // issuer: self-signed, so the subject
    sequence(time(new Date(now - 60_000)), time(new Date(now + days * 86_400_000))),
    name,
    publicKeyInfo,
    extensions
  )
  // node:crypto signs EC keys as a DER ECDSA-Sig-Value, the encoding X.509 wants
  const signature = new Uint8Array(Crypto.sign("sha256", toBeSigned, privateKey))
  const certificate = sequence(toBeSigned, signatureAlgorithm, bitString(signature))
  const base64 = Buffer.from(certificate)
    .toString("base64")
    .replace(/.{1,64}/g, "$&\n")
  return {
    key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    cert: `-----BEGIN CERTIFICATE-----\n${base64}-----END CERTIFICATE-----\n`
  }
}

const OID = {
  commonName: "2.5.4.3",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  basicConstraints: "2.5.29.19",
  subjectAltName: "2.5.29.17"
} as const

const utf8 = new TextEncoder()

// DER: every value is tag, length, content

/** A DER length: one byte below 128, else 0x80 + the count of big-endian length bytes. */
const length = (n: number): Uint8Array => {
  if (n < 0x80) return Uint8Array.of(n)
  const bytes: Array<number> = []
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff)
  return Uint8Array.of(0x80 | bytes.length, ...bytes)
}

const tagged = (tag: number, ...content: ReadonlyArray<Uint8Array>): Uint8Array => {
  const body = Bytes.concat(content)
  return Bytes.concat([Uint8Array.of(tag), length(body.length), body])
}

const sequence = (...content: ReadonlyArray<Uint8Array>) => tagged(0x30, ...content)
const set = (...content: ReadonlyArray<Uint8Array>) => tagged(0x31, ...content)
const explicit = (n: number, ...content: ReadonlyArray<Uint8Array>) => tagged(0xa0 | n, ...content)
const octetString = (content: Uint8Array) => tagged(0x04, content)
const utf8String = (text: string) => tagged(0x0c, utf8.encode(text))
const boolean = (value: boolean) => tagged(0x01, Uint8Array.of(value ? 0xff : 0x00))
// the leading 0: no unused bits in the last byte
const bitString = (content: Uint8Array) => tagged(0x03, Uint8Array.of(0), content)

/** An object identifier: the first two arcs in one byte, then base-128 arcs, high bit = more. */
const objectId = (dotted: string): Uint8Array => {
  const [first = 0, second = 0, ...rest] = dotted.split(".").map(Number)
  const out: Array<number> = [first * 40 + second]
  for (const arc of rest) {
    const encoded: Array<number> = [arc & 0x7f]
    for (let high = arc >>> 7; high > 0; high >>>= 7) encoded.unshift((high & 0x7f) | 0x80)
    out.push(...encoded)
  }
  return tagged(0x06, Uint8Array.from(out))
}

/** A non-negative INTEGER from big-endian bytes: minimal, with a 0 byte if the top bit is set. */
const integer = (bytes: Uint8Array): Uint8Array => {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0 && ((bytes[start + 1] ?? 0) & 0x80) === 0) start++
  const minimal = bytes.subarray(start)
  return tagged(0x02, ((minimal[0] ?? 0) & 0x80) === 0 ? minimal : Bytes.concat([Uint8Array.of(0), minimal]))
}

/** RFC 5280 4.1.2.5: UTCTime for years 1950 to 2049, GeneralizedTime otherwise. */
const time = (date: Date): Uint8Array => {
  const digits = `${date.toISOString().replace(/[-:T]/g, "").slice(0, 14)}Z` // YYYYMMDDHHMMSSZ
  const year = date.getUTCFullYear()
  return year >= 1950 && year < 2050 ? tagged(0x17, utf8.encode(digits.slice(2))) : tagged(0x18, utf8.encode(digits))
}

/** The 4 or 16 bytes of an IP address, as the iPAddress name holds them. */
const ipAddressBytes = (ip: string): Uint8Array => {
  if (Net.isIPv4(ip)) return Uint8Array.from(ip.split(".").map(Number))
  // IPv6: an embedded IPv4 tail (`::ffff:10.0.0.1`) is two groups, `::` stands for the missing zeros
  const text = ip.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
    [(Number(a) << 8) | Number(b), (Number(c) << 8) | Number(d)].map((group) => group.toString(16)).join(":")
  )
  const [head = "", tail] = text.split("::")
  const headGroups = head === "" ? [] : head.split(":")
  const tailGroups = tail === undefined || tail === "" ? [] : tail.split(":")
  const zeros = tail === undefined ? [] : Array<string>(8 - headGroups.length - tailGroups.length).fill("0")
  const out = new Uint8Array(16)
  ;[...headGroups, ...zeros, ...tailGroups].forEach((group, i) => {
    const value = Number.parseInt(group, 16)
    out[i * 2] = value >> 8
    out[i * 2 + 1] = value & 0xff
  })
  return out
}
