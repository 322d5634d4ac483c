import * as fs from 'fs'
import * as os from 'os'

export const MiB = 1024 * 1024

/** The kernel's estimate of memory available to new processes (MemAvailable), in bytes. */
export function memAvailable(read: (file: string) => string = f => fs.readFileSync(f, 'utf8')): number {
  try {
    const m = /^MemAvailable:\s+(\d+)\s*kB/m.exec(read('/proc/meminfo'))
    if (m) return Number(m[1]) * 1024
  } catch {
    // not Linux, or /proc is not mounted
  }
  return os.freemem()
}

/** The process and every descendant, from /proc (each thread's `children` list); just `pid` without /proc. */
export function processTree(pid: number): number[] {
  const out: number[] = []
  const stack = [pid]
  while (stack.length > 0) {
    const p = stack.pop() as number
    out.push(p)
    let tasks: string[] = []
    try {
      tasks = fs.readdirSync(`/proc/${p}/task`)
    } catch {
      continue
    }
    for (const t of tasks) {
      try {
        for (const c of fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').split(/\s+/)) {
          if (c !== '') stack.push(Number(c))
        }
      } catch {
        // the thread ended, or the kernel keeps no children lists
      }
    }
  }
  return out
}

/** A field of /proc/PID/status in bytes (`VmRSS` now, `VmHWM` the peak); 0 once the process is gone. */
function statusField(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s*kB`, 'm').exec(
      fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    )
    return m ? Number(m[1]) * 1024 : 0
  } catch {
    return 0
  }
}

/** Resident memory of these processes now, in bytes. */
export function treeRss(pids: number[]): number {
  return pids.reduce((sum, p) => sum + statusField(p, 'VmRSS'), 0)
}

export interface MemoryWatch {
  /** The largest resident memory of the tree seen so far, in bytes (sampled; the root's own peak is exact). */
  peak(): number
  stop(): void
}

/** How often a watched tree's memory is read. */
export const POLL_MS = 20

/**
 * Reads the resident memory of `pid` and its descendants every POLL_MS and, once it is over `limit` bytes,
 * SIGKILLs every process of the tree and calls `onOver` (to kill what else belongs to the command). Resident
 * memory is what the machine gives a process; an address-space limit (ulimit -v) would count the virtual memory
 * that Nix's garbage collector reserves without using it.
 */
export function watchMemory(pid: number, limit: number, onOver: () => void): MemoryWatch {
  let peak = 0
  let over = false
  const timer = setInterval(() => {
    if (over) return
    const tree = processTree(pid)
    const rss = treeRss(tree)
    peak = Math.max(peak, rss, statusField(pid, 'VmHWM'))
    if (rss > limit) {
      over = true
      for (const p of tree) {
        try {
          process.kill(p, 'SIGKILL')
        } catch {
          // already gone
        }
      }
      onOver()
    }
  }, POLL_MS)
  return { peak: () => peak, stop: () => clearInterval(timer) }
}
