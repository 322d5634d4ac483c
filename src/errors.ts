/** The message of anything thrown: an Error's message, else its text. */
export function errorMessage(error: unknown): string {
  // Not `instanceof Error`: an error made in another realm (Node's own, seen from a vm context) is one too.
  const message = (error as { message?: unknown } | null | undefined)?.message
  return typeof message === 'string' ? message : String(error)
}

/** Bad input: the step fails naming the input and what was expected (exit code 2 on the command line). */
export class InputError extends Error {}
