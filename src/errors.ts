/** The message of anything thrown: an Error's message, else its text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** Bad input: the step fails naming the input and what was expected (exit code 2 on the command line). */
export class InputError extends Error {}
