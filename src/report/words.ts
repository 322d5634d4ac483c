/** `1 host`, `3 hosts`: a count with its noun, plural by English rule or as given. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}
