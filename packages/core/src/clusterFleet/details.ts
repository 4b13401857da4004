/**
 * What the clustered fleet's errors say: the details a caller is told when a command's runner
 * is lost or hands its node over, or when a node is not in the fleet, and a cause as text.
 *
 * @internal
 */

/** The detail of a command whose runner was lost while it was in flight: it is not sent again. */
export const lostInFlight =
  "the runner holding the node's connection was lost while the command was in flight; " +
  "it may or may not have reached the node, and was not sent again"

/** The detail of a command still running when its runner stopped and handed the node over. */
export const handedOver =
  "the runner holding the node's connection stopped while the command was in flight; " +
  "it may or may not have reached the node, and was not sent again"

/** The last error of a node that is not in the cluster's fleet. */
export const notInFleet = "not in the cluster's fleet"

/** A cause as text: its `message`, or the value itself. */
export const causeText = (cause: unknown): string =>
  typeof cause === "object" && cause !== null && "message" in cause ? String(cause.message) : String(cause)
