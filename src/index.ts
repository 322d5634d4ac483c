import { runnerLog } from './log/runner'
import { run } from './main'
import { runPost } from './post'
import { runnerContext } from './runner/context'
import { isPostStep, markMainStep } from './state'

const log = runnerLog()
if (isPostStep(log)) {
  runPost(log)
} else {
  markMainStep(log)
  void run({ log, context: runnerContext() })
}
