// Prometheus text-format metrics for the Node function.
const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class Metrics {
  constructor() {
    this.counts = { received: 0, accepted: 0, duplicates: 0, delivered: 0, retried: 0, dead: 0 };
    this.rejectedBy = new Map();
    this.histogram = new Array(buckets.length).fill(0);
    this.sum = 0;
    this.count = 0;
  }
  received() { this.counts.received++; }
  rejected(reason) { this.rejectedBy.set(reason, (this.rejectedBy.get(reason) ?? 0) + 1); }
  outcome(outcome) {
    if (outcome.duplicate) this.counts.duplicates++;
    else if (outcome.response.status === 200 && outcome.event) this.counts.accepted++;
    else this.rejected(reasonOf(outcome));
  }
  delivery(type) {
    if (type === 'delivered') this.counts.delivered++;
    else if (type === 'retried') this.counts.retried++;
    else if (type === 'dead') this.counts.dead++;
  }
  latency(seconds) {
    this.sum += seconds;
    this.count++;
    for (let i = 0; i < buckets.length; i++) if (seconds <= buckets[i]) this.histogram[i]++;
  }
  render() {
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
