/**
 * Preloaded into the action's node process (`node --require rss.js dist/index.js`): writes that process's own
 * peak resident set size, in kilobytes, to $NFU_BENCH_RSS_FILE when it exits. `/usr/bin/time` cannot give this
 * number: the maximum it reports covers the children node waited for, and a `nix eval` of a large fleet can
 * take more memory than node itself.
 */
import * as fs from 'fs'

const file = process.env.NFU_BENCH_RSS_FILE
if (file) {
  process.on('exit', () => {
    fs.writeFileSync(file, `${process.resourceUsage().maxRSS}\n`)
  })
}
