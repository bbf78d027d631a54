// Writes a replay log of N calls' webhooks with duplicates, reordering, late Initiates,
// Completes that never come and some broken requests, and prints the truth a correct replay
// must report. Usage: node make-replay-log.mjs CALLS LOG_PATH TRUTH_PATH [SEED]
import { writeFileSync } from 'node:fs';

const [calls = 40000, logPath, truthPath, seedText = '7'] = process.argv.slice(2);
let seed = Number(seedText);
const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const abandonAfter = 600;
const start = 1714533342;

function body(event, call, extra = '') {
  let b = `Action=Webhook&Event=${event}&Account.Sid=AC${call % 5}&Property.Sid=PR1&Property.Name=x.com` +
    `&Property.Type=Site&Call.Sid=CA${call}&Call.StartDate=2024-05-01+03%3A15%3A42&Call.From=%2B14155550123` +
    `&Call.To=%2B18005550199&Call.To.Name=Main`;
  if (event === 'Call.Complete') b += `&Call.To.Type=Static&Call.Duration=${call % 300}&Call.Disposition=ANSWERED`;
  return b + extra;
}

const events = [];
const truth = { calls: 0, completed: 0, abandoned: 0, open: 0, duplicates: 0, rejected: 0, accepted: 0 };
let lastTime = start;
for (let call = 0; call < Number(calls); call++) {
  const t0 = start + Math.floor(call * 0.5);
  const shape = random();
  const hasInitiate = shape < 0.9;
  const hasComplete = shape >= 0.15;       // 15% Initiate only
  const completeAt = t0 + 30 + Math.floor(random() * 400);
  const initiateAt = hasComplete && random() < 0.1 ? completeAt + 5 : t0; // 10% late Initiate
  truth.calls++;
  if (hasComplete) truth.completed++;
  const push = (event, at) => {
    const copies = random() < 0.2 ? 2 : 1;
    for (let k = 0; k < copies; k++) {
      events.push({ at: at + k, line: { method: 'POST', url: '/hook', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: body(event, call), received_at: at + k } });
      if (k > 0) truth.duplicates++;
      else truth.accepted++;
    }
  };
  if (hasInitiate) push('Call.Initiate', initiateAt);
  if (hasComplete) push('Call.Complete', completeAt);
  if (hasInitiate && !hasComplete) {
    // Abandoned only if the log runs on past its timeout; decided once the end is known.
    events[events.length - 1].initiateOnly = t0;
  }
  if (random() < 0.01) {
    events.push({ at: t0 + 1, line: { method: 'POST', url: '/hook', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'Action=Webhook&Event=Call.Complete', received_at: t0 + 1 } });
    truth.rejected++;
  }
}
events.sort((a, b) => a.at - b.at);
lastTime = events[events.length - 1].at;
for (const e of events) {
  if (e.initiateOnly === undefined) continue;
  if (e.initiateOnly + abandonAfter <= lastTime) truth.abandoned++;
  else truth.open++;
}
writeFileSync(logPath, events.map((e) => JSON.stringify(e.line)).join('\n') + '\n');
truth.requests = events.length;
truth.abandon_after_seconds = abandonAfter;
writeFileSync(truthPath, JSON.stringify(truth));
