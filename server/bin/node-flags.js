// The Node flags the CLI runs with: a young generation (semi-spaces) that may grow to 64 MB, as
// `npm start` lets the server's, instead of V8's 16 MB. A rebuild decodes the log in pages of 5,000
// events; with the default, each page outlives the young generation and is promoted. Measured on
// bench:rebuild's 1M-event log (bench/README.md, Projections, tenth session): 20–30% more events per
// CPU-second than V8's default. Not `--min-semi-space-size=64` (which `npm start` adds for the SMTP
// thread): starting at 64 MB measured no faster than the default here.
const HERALD_NODE_FLAGS = ['--max-semi-space-size=64'];

/** The flags of HERALD_NODE_FLAGS that `execArgv` does not set (any value the caller gave wins). */
function missingNodeFlags(execArgv) {
  return HERALD_NODE_FLAGS.filter((flag) => {
    const name = flag.slice(0, flag.indexOf('='));
    return !execArgv.some((arg) => arg === name || arg.startsWith(`${name}=`) || arg.startsWith(`${name.replace(/-/g, '_')}=`));
  });
}

module.exports = { HERALD_NODE_FLAGS, missingNodeFlags };
