import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Registry } from "../src/connection/registry.js"

type Op =
  | { readonly op: "set"; readonly id: number; readonly value: number }
  | { readonly op: "delete"; readonly id: number }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("set" as const), id: fc.integer({ min: 0, max: 40 }), value: fc.integer() }),
  fc.record({ op: fc.constant("delete" as const), id: fc.integer({ min: 0, max: 40 }) })
)

describe("Registry", () => {
  it("behaves as a Map for any order of sets and deletes", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const registry = new Registry<number>()
        const model = new Map<number, number>()
        for (const step of ops) {
          if (step.op === "set") {
            registry.set(step.id, step.value)
            model.set(step.id, step.value)
          } else {
            registry.delete(step.id)
            model.delete(step.id)
          }
          for (let id = 0; id <= 40; id++) expect(registry.get(id)).toBe(model.get(id))
        }
        const seen: Array<number> = []
        registry.forEach((value) => {
          seen.push(value)
        })
        expect(seen.sort((a, b) => a - b)).toEqual([...model.values()].sort((a, b) => a - b))
      })
    )
  })

  it("keeps thousands of increasing ids, found in order and released in any order", () => {
    const registry = new Registry<number>()
    for (let id = 1; id <= 5000; id++) registry.set(id, id * 2)
    for (let id = 1; id <= 5000; id++) expect(registry.get(id)).toBe(id * 2)
    for (let id = 5000; id >= 1; id -= 2) registry.delete(id)
    for (let id = 1; id <= 5000; id++) expect(registry.get(id)).toBe(id % 2 === 1 ? id * 2 : undefined)
    for (let id = 1; id <= 5000; id += 2) registry.delete(id)
    let left = 0
    registry.forEach(() => {
      left++
    })
    expect(left).toBe(0)
  })
})
