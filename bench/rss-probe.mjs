// Loaded with `node --import` into a benchmarked process: on exit, reports its peak resident set
// size (getrusage maxrss) on stderr as `dataport-bench-maxrss-bytes N`, and the CPU time of all its
// threads (user + system, µs) as `dataport-bench-cpu-us N`.
import { writeSync } from 'node:fs';
process.on('exit', () => {
  const u = process.resourceUsage();
  writeSync(2, `\ndataport-bench-maxrss-bytes ${u.maxRSS * 1024}\ndataport-bench-cpu-us ${u.userCPUTime + u.systemCPUTime}\n`);
});
