// Loaded with `node --import` into a benchmarked process: on exit, reports its peak resident set
// size (getrusage maxrss) on stderr as `dataport-bench-maxrss-bytes N`.
import { writeSync } from 'node:fs';
process.on('exit', () => {
  writeSync(2, `\ndataport-bench-maxrss-bytes ${process.resourceUsage().maxRSS * 1024}\n`);
});
