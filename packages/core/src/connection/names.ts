/**
 * A server's check of the names a client sends: packet types, field names and param names must
 * be identifiers (1-4 of A-Z, 0-9). A bad packet type or field name is bad data (the connection
 * ends with a `DecodeError`); a bad param name gets its field an error reply naming it.
 */
import { DecodeError } from "../CodecError.js"
import type * as Field from "../Field.js"
import * as Identifier from "../Identifier.js"

/**
 * `undefined` when the names of a field (of a packet of `packetType`) and of its params are
 * identifiers; else the `DecodeError` of a bad packet type or field name, or the detail of the
 * error reply for a bad param name.
 */
export const refuseNames = (packetType: string, field: Field.Field): DecodeError | string | undefined => {
  if (!Identifier.isIdentifier(packetType) || !Identifier.isIdentifier(field.name)) {
    const [what, name] = Identifier.isIdentifier(packetType)
      ? (["field", field.name] as const)
      : (["packet type", packetType] as const)
    return new DecodeError({
      reason: "InvalidName",
      offset: 0,
      detail: `${what} name ${JSON.stringify(name)} is not an identifier (1-4 of A-Z, 0-9)`,
      packetType,
      field: field.name
    })
  }
  for (const param of field.params) {
    if (!Identifier.isIdentifier(param.name)) {
      return `param name ${JSON.stringify(param.name)} is not an identifier (1-4 of A-Z, 0-9)`
    }
  }
  return undefined
}
