// Prometheus text-format metrics for the Node function.
const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
// One delivery attempt, from its start to the destination's answer (or the timeout).
const deliveryBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const OUTCOMES = { delivered: 'delivered', retried: 'retried', dead: 'dead' };

// A label value as the text format writes it.
const label = (value) => String(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export class Metrics {
  constructor() {
    this.counts = { received: 0, accepted: 0, duplicates: 0, delivered: 0, retried: 0, dead: 0 };
    this.rejectedBy = new Map();
    this.histogram = new Array(buckets.length).fill(0);
    this.sum = 0;
    this.count = 0;
    // destination -> {buckets, sum, count}; "destination outcome code" -> n
    this.deliveryTimes = new Map();
    this.deliveryOutcomes = new Map();
  }
  received() { this.counts.received++; }
  rejected(reason) { this.rejectedBy.set(reason, (this.rejectedBy.get(reason) ?? 0) + 1); }
  outcome(outcome) {
    if (outcome.duplicate) this.counts.duplicates++;
    // The verdict's event, not the outcome's: that one is parsed only when read.
    else if (outcome.response.status === 200 && outcome.verdict?.valid && outcome.verdict.event) this.counts.accepted++;
    else this.rejected(reasonOf(outcome));
  }
  /** One of the delivery queue's events ({type, destination, code, durationMs}), or its type. */
  delivery(event) {
    const type = typeof event === 'string' ? event : event?.type;
    if (type === 'delivered') this.counts.delivered++;
    else if (type === 'retried') this.counts.retried++;
    else if (type === 'dead') this.counts.dead++;
    if (typeof event !== 'object' || event === null || !OUTCOMES[type]) return;
    const destination = String(event.destination ?? '');
    const key = JSON.stringify([destination, OUTCOMES[type], String(event.code ?? '')]);
    this.deliveryOutcomes.set(key, (this.deliveryOutcomes.get(key) ?? 0) + 1);
    if (Number.isFinite(event.durationMs) && event.durationMs >= 0) {
      let h = this.deliveryTimes.get(destination);
      if (!h) this.deliveryTimes.set(destination, (h = { buckets: new Array(deliveryBuckets.length).fill(0), sum: 0, count: 0 }));
      const seconds = event.durationMs / 1000;
      h.sum += seconds;
      h.count++;
      for (let i = 0; i < deliveryBuckets.length; i++) if (seconds <= deliveryBuckets[i]) h.buckets[i]++;
    }
  }
  latency(seconds) {
    this.sum += seconds;
    this.count++;
    for (let i = 0; i < buckets.length; i++) if (seconds <= buckets[i]) this.histogram[i]++;
  }
  /** The text; `counts` (a store's counts(), read at scrape time) adds the outbox gauges. */
  render(counts = null) {
    const lines = [];
    const counter = (name, help, value, labels = '') => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name}${labels} ${value}`);
    };
    counter('callhook_webhooks_received_total', 'Webhook requests received.', this.counts.received);
    counter('callhook_webhooks_accepted_total', 'Webhooks accepted (not duplicates).', this.counts.accepted);
    counter('callhook_webhooks_duplicate_total', 'Webhooks that repeated an event already accepted.', this.counts.duplicates);
    lines.push('# HELP callhook_webhooks_rejected_total Webhooks refused, by reason.', '# TYPE callhook_webhooks_rejected_total counter');
    for (const [reason, value] of [...this.rejectedBy].sort()) lines.push(`callhook_webhooks_rejected_total{reason="${reason}"} ${value}`);
    counter('callhook_deliveries_delivered_total', 'Deliveries a destination accepted.', this.counts.delivered);
    counter('callhook_deliveries_retried_total', 'Delivery attempts that failed and will be retried.', this.counts.retried);
    counter('callhook_deliveries_dead_lettered_total', 'Deliveries given up on and dead-lettered.', this.counts.dead);
    lines.push('# HELP callhook_request_duration_seconds Time to answer a request.', '# TYPE callhook_request_duration_seconds histogram');
    buckets.forEach((b, i) => lines.push(`callhook_request_duration_seconds_bucket{le="${b}"} ${this.histogram[i]}`));
    lines.push(`callhook_request_duration_seconds_bucket{le="+Inf"} ${this.count}`);
    lines.push(`callhook_request_duration_seconds_sum ${this.sum}`, `callhook_request_duration_seconds_count ${this.count}`);

    lines.push('# HELP callhook_deliveries_total Delivery attempts, by destination, outcome (delivered, retried, dead) and the core\'s code.',
      '# TYPE callhook_deliveries_total counter');
    for (const [key, value] of [...this.deliveryOutcomes].sort()) {
      const [destination, outcome, code] = JSON.parse(key);
      lines.push(`callhook_deliveries_total{destination="${label(destination)}",outcome="${outcome}",code="${label(code)}"} ${value}`);
    }
    lines.push('# HELP callhook_delivery_duration_seconds Time of one delivery attempt, by destination.',
      '# TYPE callhook_delivery_duration_seconds histogram');
    for (const [destination, h] of [...this.deliveryTimes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const d = label(destination);
      deliveryBuckets.forEach((b, i) => lines.push(`callhook_delivery_duration_seconds_bucket{destination="${d}",le="${b}"} ${h.buckets[i]}`));
      lines.push(`callhook_delivery_duration_seconds_bucket{destination="${d}",le="+Inf"} ${h.count}`);
      lines.push(`callhook_delivery_duration_seconds_sum{destination="${d}"} ${h.sum}`, `callhook_delivery_duration_seconds_count{destination="${d}"} ${h.count}`);
    }
    if (counts) {
      // Destinations seen in this process's deliveries stay listed at 0 once their outbox empties.
      const pending = new Map([...this.deliveryTimes.keys()].map((d) => [d, 0]));
      for (const [destination, n] of Object.entries(counts.byDestination ?? {})) pending.set(destination, n);
      lines.push('# HELP callhook_outbox_pending Deliveries waiting to be sent (due, scheduled for a retry or in flight), by destination.',
        '# TYPE callhook_outbox_pending gauge');
      for (const [destination, n] of [...pending].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        lines.push(`callhook_outbox_pending{destination="${label(destination)}"} ${n}`);
      }
      lines.push('# HELP callhook_dead_letters Dead letters kept (until redriven, purged or past their retention).',
        '# TYPE callhook_dead_letters gauge', `callhook_dead_letters ${counts.dead}`);
    }
    return lines.join('\n') + '\n';
  }
}

// The reason a webhook was refused: the auth code, the first payload error code, or the status.
function reasonOf(outcome) {
  try {
    const body = JSON.parse(outcome.response.body);
    const problem = body.problem ?? body;
    if (problem.code) return problem.code;
    if (problem.errors?.[0]?.code) return problem.errors[0].code;
  } catch { /* not JSON */ }
  return `status_${outcome.response.status}`;
}
