// The Node flags the CLI runs with, as `npm start` runs the server: a 64 MB young generation
// (semi-spaces) instead of V8's 16 MB default. A rebuild decodes the log in pages of 5,000 events;
// with the default, each page outlives the young generation and is promoted (≈ 0.5 page faults and
// a copy per event), and reading the log decoded runs 1.3–2.8× slower (bench/README.md, Projections).
const HERALD_NODE_FLAGS = ['--max-semi-space-size=64', '--min-semi-space-size=64'];

/** The flags of HERALD_NODE_FLAGS that `execArgv` does not set (any value the caller gave wins). */
function missingNodeFlags(execArgv) {
  return HERALD_NODE_FLAGS.filter((flag) => {
    const name = flag.slice(0, flag.indexOf('='));
    return !execArgv.some((arg) => arg === name || arg.startsWith(`${name}=`) || arg.startsWith(`${name.replace(/-/g, '_')}=`));
  });
}

module.exports = { HERALD_NODE_FLAGS, missingNodeFlags };
