// The part of js-yaml's API that scripts/generate.ts uses (js-yaml ships no types of its own).
declare module 'js-yaml' {
  export function load(text: string): unknown
}
