import { InputError } from './errors'

/** What to do when an update breaks hosts that built before it. */
export interface AttributionSettings {
  /** Builds the search for the breaking inputs may take; 0: no search. */
  maxBuilds: number
  /** `regressing`: the pull request's lock keeps the breaking inputs at their old revision. */
  holdBack: 'none' | 'regressing'
  /** Search a breaking git-based input's history for the first bad commit. */
  bisect: boolean
  /** Builds each bisection may take. */
  bisectMaxBuilds: number
}

/** The raw inputs, as action.yml names them (defaults already applied). */
export interface AttributionInputs {
  'attribution-max-builds': string
  'hold-back': string
  bisect: string
  'bisect-max-builds': string
}

function count(name: keyof AttributionInputs, raw: string, min: number): number {
  if (!/^[0-9]+$/.test(raw) || !Number.isSafeInteger(Number(raw)) || Number(raw) < min) {
    throw new InputError(
      `Input '${name}' must be a whole number of at least ${min}, got ${JSON.stringify(raw)}`
    )
  }
  return Number(raw)
}

/** Parses the attribution inputs; an invalid one is an InputError naming it and the expected form. */
export function parseAttributionSettings(raw: AttributionInputs): AttributionSettings {
  const holdBack = raw['hold-back'].trim()
  if (holdBack !== 'none' && holdBack !== 'regressing') {
    throw new InputError(`Input 'hold-back' must be none or regressing, got ${JSON.stringify(holdBack)}`)
  }
  const bisect = raw.bisect.trim()
  if (!['true', 'True', 'TRUE', 'false', 'False', 'FALSE'].includes(bisect)) {
    throw new InputError(`Input 'bisect' must be true or false, got ${JSON.stringify(bisect)}`)
  }
  return {
    maxBuilds: count('attribution-max-builds', raw['attribution-max-builds'].trim(), 0),
    holdBack,
    bisect: bisect.toLowerCase() === 'true',
    bisectMaxBuilds: count('bisect-max-builds', raw['bisect-max-builds'].trim(), 1)
  }
}
