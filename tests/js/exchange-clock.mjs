// A test clock for a Node process, preloaded with `node --import` by the exchange tests: Date.now()
// is real time plus an offset the parent sets over the IPC channel ({clockOffsetMs}; answered
// with the same message once applied). Timers keep real time. The shell itself is unchanged.
const realNow = Date.now.bind(Date);
let offsetMs = 0;
Date.now = () => realNow() + offsetMs;
if (typeof process.send === 'function') {
  process.on('message', (message) => {
    if (message && typeof message.clockOffsetMs === 'number') {
      offsetMs = message.clockOffsetMs;
      process.send({ clockOffsetMs: offsetMs });
    }
  });
  process.channel?.unref();
}
