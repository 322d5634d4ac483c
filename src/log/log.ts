/**
 * The one port between the run and whoever shows it: the action binds it to the runner (src/log/runner.ts), the
 * command line to its terminal and files. No other module writes to the runner's log, outputs, state or summary.
 */
export interface Log {
  info(message: string): void
  /** A command's output as it comes (build logs): shown where the log is shown, as it is. */
  write(chunk: string): void
  /** An annotation on a runner; `title` heads it in the run's page. */
  warning(message: string, options?: { title?: string }): void
  error(message: string): void
  /** Runs `fn` inside a collapsible group of the log. */
  group<T>(name: string, fn: () => Promise<T>): Promise<T>
  /** From now on `secret` is shown as `***` wherever the log shows it. */
  mask(secret: string): void
  /** A step output; outside a runner there is none, and the call is dropped. */
  output(name: string, value: string): void
  /** Handed to the `post:` step. */
  saveState(name: string, value: string): void
  getState(name: string): string
  /** Appends Markdown to the job summary, where there is one. */
  summary(markdown: string): void
  /** Marks the step failed with `message`. */
  failed(message: string): void
}

/** A log that keeps everything in memory: for tests, and for runs whose log nobody reads. */
export class MemoryLog implements Log {
  readonly lines: string[] = []
  readonly warnings: { message: string; title?: string }[] = []
  readonly errors: string[] = []
  readonly secrets: string[] = []
  readonly outputs = new Map<string, string>()
  readonly state = new Map<string, string>()
  readonly summaries: string[] = []
  failure?: string

  info(message: string): void {
    this.lines.push(message)
  }
  write(chunk: string): void {
    this.lines.push(chunk)
  }
  warning(message: string, options: { title?: string } = {}): void {
    this.warnings.push({ message, title: options.title })
  }
  error(message: string): void {
    this.errors.push(message)
  }
  async group<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.lines.push(`== ${name}`)
    return fn()
  }
  mask(secret: string): void {
    if (secret !== '') this.secrets.push(secret)
  }
  output(name: string, value: string): void {
    this.outputs.set(name, value)
  }
  saveState(name: string, value: string): void {
    this.state.set(name, value)
  }
  getState(name: string): string {
    return this.state.get(name) ?? ''
  }
  summary(markdown: string): void {
    this.summaries.push(markdown)
  }
  failed(message: string): void {
    this.failure = message
  }
}
