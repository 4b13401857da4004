/**
 * How a node's state in the fleet follows its reconnecting client's: the link, the attempt, the
 * last error and the agreed timeout from each state the client goes through, the time the link
 * opened kept while it stays open.
 *
 * @internal
 */
import type * as Connection from "../Connection.js"
import type { NodeState } from "./service.js"

/** The state a client's state stands for, from the node's previous one. */
export const fromClient = (
  previous: NodeState,
  state: Connection.ClientState,
  timeout: number,
  now: number
): NodeState => {
  switch (state._tag) {
    case "Open":
      return {
        ...previous,
        link: "Open",
        attempt: undefined,
        timeout,
        connectedSince: previous.link === "Open" ? previous.connectedSince : now
      }
    case "Connecting":
      return {
        ...previous,
        link: "Connecting",
        attempt: state.attempt,
        lastError: state.lastError ?? previous.lastError,
        timeout,
        connectedSince: undefined
      }
    case "BackingOff":
      return {
        ...previous,
        link: "BackingOff",
        attempt: state.attempt,
        lastError: state.lastError,
        timeout,
        connectedSince: undefined
      }
    case "Closed":
      return {
        ...previous,
        link: "Closed",
        attempt: undefined,
        lastError: state.lastError ?? previous.lastError,
        timeout,
        connectedSince: undefined
      }
  }
}
