/**
 * The generators behind `PacketSchema`'s Schemas: how `effect/Arbitrary` generates each payload
 * that it cannot derive by itself (f32 representability, typed arrays, the values at the edges
 * of each range, the unknown codes). A declaration's `toCodecArbitrary` annotation names one of
 * these: a Schema to generate from and a function from its values to ours. The declaration still
 * validates every generated value, so a wrong generator shows up as discards, never as an
 * invalid sample. All ranges and edges come from the domains (`domain.ts`) the wire-type table
 * gives each type, which the fast-check arbitraries read too.
 */
import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import * as SchemaGetter from "effect/SchemaGetter"
import * as Domain from "./domain.js"

/** The bounds a user's checks put on a generated value, if any. */
export type GenerationConstraint<T> = Schema.Annotations.ToArbitrary.GenerationConstraint<T> | undefined

/** Generation from `from`, its values mapped by `toValue`. */
export const generatedFrom = <S extends Schema.Top, T>(from: S, toValue: (generated: S["Type"]) => T): SchemaAST.Link =>
  Schema.link<T>()(from, {
    decode: SchemaGetter.transform(toValue),
    encode: SchemaGetter.forbidden(() => "a generation representation is only decoded")
  })

/** An integer from 0 to `length - 1`. */
export const indexBelow = (length: number) => Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: length - 1 }))

// Arrays start up to 3 elements into their buffer, as views on a received message do.
const OFFSET = indexBelow(4)

const lengthChecked = <S extends Schema.Top>(array: Schema.$Array<S>, constraint: GenerationConstraint<unknown>) => {
  const minimum = constraint?.minLength
  const maximum = constraint?.maxLength
  if (minimum !== undefined && maximum !== undefined) return array.check(Schema.isBetweenLength(minimum, maximum))
  if (minimum !== undefined) return array.check(Schema.isMinLength(minimum))
  if (maximum !== undefined) return array.check(Schema.isMaxLength(maximum))
  return array
}

/**
 * How to generate values of type `A`: one alone (for a payload's declaration), or an array of
 * them (for a typed array's), from the same representation. Typed-array elements are generated
 * straight from the representation rather than through the element's declaration, which would
 * decode and validate every element on its own.
 */
export interface Generator<A> {
  readonly one: SchemaAST.Link
  readonly many: <T>(
    constraint: GenerationConstraint<unknown>,
    from: (elements: ReadonlyArray<A>, offset: number) => T
  ) => SchemaAST.Link
}

const generator = <A, B>(representation: Schema.Schema<B>, toValue: (generated: B) => A): Generator<A> => ({
  one: generatedFrom(representation, toValue),
  many: (constraint, from) =>
    generatedFrom(
      Schema.Tuple([OFFSET, lengthChecked(Schema.Array(representation), constraint)]),
      ([offset, generated]) => from(generated.map(toValue), offset)
    )
})

// One draw in EDGE_ONE_IN is an edge of the domain (a range's ends, 0, -0, NaN, the infinities):
// the values where codecs break, which uniform draws over 2^32 or 2^64 values would almost never
// hit. The pick comes first so that shrinking moves toward edge 0, the simplest value.
const EDGE_ONE_IN = 4
const PICK_EDGE = indexBelow(EDGE_ONE_IN)

const edgesOr = <A, B>(edges: ReadonlyArray<A>, base: Schema.Schema<B>, toValue: (generated: B) => A) =>
  edges.length === 0
    ? generator(base, toValue)
    : generator(Schema.Tuple([PICK_EDGE, indexBelow(edges.length), base]), ([pick, edge, generated]) => {
        const value = pick === 0 ? edges[edge] : undefined
        return value === undefined ? toValue(generated) : value
      })

const identity = <A>(a: A): A => a

// A user's own bounds on one of these (`Int32.check(Schema.isBetween(...))`) arrive as a
// constraint; generation keeps to them so that it does not discard.
const integerBounds = (domain: Domain.IntegerDomain, constraint: GenerationConstraint<number>) => {
  const { minimum, maximum, exclusiveMinimum, exclusiveMaximum } = constraint ?? {}
  const low = Math.max(
    domain.minimum,
    minimum === undefined ? -Infinity : exclusiveMinimum ? Math.floor(minimum) + 1 : Math.ceil(minimum)
  )
  const high = Math.min(
    domain.maximum,
    maximum === undefined ? Infinity : exclusiveMaximum ? Math.ceil(maximum) - 1 : Math.floor(maximum)
  )
  return low <= high ? { low, high } : { low: domain.minimum, high: domain.maximum }
}

const bigIntBounds = (domain: Domain.BigIntDomain, constraint: GenerationConstraint<bigint>) => {
  const { minimum, maximum, exclusiveMinimum, exclusiveMaximum } = constraint ?? {}
  const fromMinimum = minimum === undefined ? domain.minimum : exclusiveMinimum ? minimum + 1n : minimum
  const fromMaximum = maximum === undefined ? domain.maximum : exclusiveMaximum ? maximum - 1n : maximum
  const low = fromMinimum > domain.minimum ? fromMinimum : domain.minimum
  const high = fromMaximum < domain.maximum ? fromMaximum : domain.maximum
  return low <= high ? { low, high } : { low: domain.minimum, high: domain.maximum }
}

/** Integers of `domain` (within the constraint), its edges often. */
export const integerGenerator = (domain: Domain.IntegerDomain, constraint?: GenerationConstraint<number>) => {
  const { low, high } = integerBounds(domain, constraint)
  return edgesOr(
    domain.edges.filter((edge) => edge >= low && edge <= high),
    Schema.Int.check(Schema.isBetween({ minimum: low, maximum: high })),
    identity
  )
}

/** 64-bit integers of `domain` (within the constraint), its edges often. */
export const bigIntGenerator = (domain: Domain.BigIntDomain, constraint?: GenerationConstraint<bigint>) => {
  const { low, high } = bigIntBounds(domain, constraint)
  return edgesOr(
    domain.edges.filter((edge) => edge >= low && edge <= high),
    Schema.BigInt.check(Schema.isBetweenBigInt({ minimum: low, maximum: high })),
    identity
  )
}

// A number within a user's bounds on a float payload (`Float64.check(Schema.isBetween(...))`),
// which arrive as a constraint: draws and edges keep to them.
const numberWithin = (constraint: GenerationConstraint<number>) => {
  const { minimum, maximum, exclusiveMinimum, exclusiveMaximum, number } = constraint ?? {}
  const checks: Array<SchemaAST.Check<number>> = []
  if (minimum !== undefined)
    checks.push(exclusiveMinimum ? Schema.isGreaterThan(minimum) : Schema.isGreaterThanOrEqualTo(minimum))
  if (maximum !== undefined)
    checks.push(exclusiveMaximum ? Schema.isLessThan(maximum) : Schema.isLessThanOrEqualTo(maximum))
  if (number === "finite") checks.push(Schema.isFinite())
  if (number === "integer") checks.push(Schema.isInt())
  const [first, ...rest] = checks
  return first === undefined ? Schema.Number : Schema.Number.check(first, ...rest)
}

// Float32 values come from an index over every float32 (`domain.ts`), so each binade is as likely
// as any other; one step past each infinity is NaN. Bounds become a range of indexes.
const float32Generator = (domain: Domain.FloatDomain, constraint: GenerationConstraint<number>) => {
  const within = numberWithin(constraint)
  const { low, high } = float32IndexBounds(constraint)
  return edgesOr(
    domain.edges.filter(Schema.is(within)),
    Schema.Int.check(Schema.isBetween({ minimum: low, maximum: high })),
    Domain.float32AtIndex
  )
}

const float32IndexBounds = (constraint: GenerationConstraint<number>) => {
  const { minimum, maximum, exclusiveMinimum, exclusiveMaximum, number } = constraint ?? {}
  // NaN lies one step past each infinity
  const finite = number === "finite" || number === "integer"
  let low = finite ? -Domain.FLOAT32_INFINITY_INDEX : -Domain.FLOAT32_INFINITY_INDEX - 2
  let high = finite ? Domain.FLOAT32_INFINITY_INDEX - 1 : Domain.FLOAT32_INFINITY_INDEX + 1
  if (minimum !== undefined) low = Math.max(low, Domain.float32IndexFrom(minimum, exclusiveMinimum === true))
  if (maximum !== undefined) high = Math.min(high, Domain.float32IndexTo(maximum, exclusiveMaximum === true))
  return low <= high
    ? { low, high }
    : { low: -Domain.FLOAT32_INFINITY_INDEX - 2, high: Domain.FLOAT32_INFINITY_INDEX + 1 }
}

const float64Generator = (domain: Domain.FloatDomain, constraint: GenerationConstraint<number>) => {
  const within = numberWithin(constraint)
  return edgesOr(domain.edges.filter(Schema.is(within)), within, identity)
}

/** Numbers of the float format `domain` (f32 or f64, within the constraint), its edges often. */
export const floatGenerator = (domain: Domain.FloatDomain, constraint?: GenerationConstraint<number>) =>
  domain.bytes === Domain.float32.bytes ? float32Generator(domain, constraint) : float64Generator(domain, constraint)
