import { run } from './main'
import { runPost } from './post'
import { isPostStep, markMainStep } from './state'

if (isPostStep()) {
  runPost()
} else {
  markMainStep()
  void run()
}
