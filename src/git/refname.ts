/**
 * What git (check-ref-format) or the action refuses in a branch name, or undefined when it is usable. Besides git's
 * rules: no `refs/` prefix (the action adds it), and nothing git would read as a commit instead of a branch.
 */
export function refNameProblem(name: string): string | undefined {
  if (name === '') return 'empty'
  if (name.startsWith('-')) return 'starts with -'
  if (name.startsWith('/') || name.endsWith('/')) return 'starts or ends with /'
  if (name.includes('..')) return 'contains ..'
  if (name.includes('@{') || name === '@') return 'contains @{'
  // git refuses control characters in ref names.
  // eslint-disable-next-line no-control-regex
  if (/[\s~^:?*[\\\x00-\x1f\x7f]/.test(name)) return 'contains a space, control character or one of ~^:?*[\\'
  if (name.endsWith('.') || name.split('/').some(c => c.endsWith('.lock')))
    return 'a component ends with . or .lock'
  if (name.split('/').some(c => c === '' || c.startsWith('.')))
    return 'has an empty component or one starting with .'
  if (name.startsWith('refs/')) return 'give the branch name without refs/'
  // git would read these as the checked-out commit (HEAD, FETCH_HEAD, ORIG_HEAD, …) or as an object name.
  if (/^(?:[A-Z_]*_)?HEAD$/.test(name)) return 'git reads HEAD and *_HEAD as a commit, not a branch'
  if (/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i.test(name)) return 'git reads a full commit id as that commit'
  return undefined
}
