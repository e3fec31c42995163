// Preloaded into a service by `bench:throughput --cpu-prof <dir>` (NODE_OPTIONS=--require ...,
// since Node 20 refuses --cpu-prof there): profiles the whole process, written on exit.
const { Session } = require('node:inspector');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 1000 });
session.post('Profiler.start');

function writeProfile() {
  // The in-thread session answers synchronously, so this completes before the process ends.
  session.post('Profiler.stop', (error, result) => {
    if (!error) writeFileSync(join(process.env.ATELIER_CPU_PROF_DIR, `${process.argv[1].split('/').at(-3)}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
  });
}

// Services exit through process.exit once closed (see runNestService), so 'exit' fires.
process.on('exit', writeProfile);
