/**
 * Closing at exit the connections a program forgot. An idle connection does not keep Node
 * running (`socket.ts`), so a script that never closes one reaches the end of its event loop;
 * Node then emits `beforeExit`, and each connection still open is closed, so the node sees a
 * clean end rather than a reset. Closing is asynchronous: the loop runs again until it is done
 * (or has nothing left that keeps it alive), and the process exits.
 *
 * @internal
 */

/** A connection that can be closed at exit without anyone waiting for it. */
export interface ClosedAtExit {
  readonly closeAtExit: () => void
}

const open = new Set<ClosedAtExit>()
let listening = false

const closeAll = () => {
  for (const connection of open) connection.closeAtExit()
  open.clear()
}

/** Closes `connection` at exit unless {@link untrack}ed first. */
export const track = (connection: ClosedAtExit): void => {
  open.add(connection)
  if (!listening) {
    listening = true
    process.on("beforeExit", closeAll)
  }
}

/** `connection` is closed, or closing: nothing to do at exit. */
export const untrack = (connection: ClosedAtExit): void => {
  open.delete(connection)
}
