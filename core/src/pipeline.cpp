#include "callhook/pipeline.h"

#include "json_writer.h"

namespace callhook {

namespace {

bool decoded_ok(Decoded& decoded, Inspection& out) {
  out.format = decoded.format;
  if (!decoded.error) return true;
  out.report = Report{};
  out.report.slot.fill(-1);
  out.report.errors.push_back(std::move(*decoded.error));
  return false;
}

}  // namespace

void inspect(const PayloadSource& source, const PipelineOptions& options, Inspection& out) {
  out.fields.clear();
  const SenderSettings* sender = options.sender;
  if (sender == nullptr || sender->sender == SenderFormat::voice_webhooks) {
    Decoded decoded = decode_payload(source, options.limits, out.fields);
    if (!decoded_ok(decoded, out)) return;
    out.report = validate(out.fields, sender != nullptr ? sender->mode : options.mode);
    return;
  }
  // Another sender: its fields, read onto the spec's parameters, then checked as the spec's.
  PayloadSource raw_source = source;
  raw_source.drop_structured_arrays = true;
  FieldList raw;
  Decoded decoded = decode_payload(raw_source, options.limits, raw);
  if (!decoded_ok(decoded, out)) return;
  Translation t;
  translate(*sender, raw, options.path_event, options.now, t);
  if (!t.errors.empty()) {
    out.report = Report{};
    out.report.slot.fill(-1);
    out.report.event = t.event;  // the webhook said which event it is, though it is refused
    out.report.errors = std::move(t.errors);
    out.report.warnings = std::move(t.warnings);
    return;
  }
  out.report = validate(t.spec, sender->mode);
  attribute_to_sender(*sender, t, out.report);
  out.fields = std::move(t.spec);
  out.report.warnings.insert(out.report.warnings.begin(), t.warnings.begin(), t.warnings.end());
  for (std::size_t i = 0; i < t.extra.size(); ++i) {
    out.fields.add(t.extra.name(i), t.extra.value(i));
    ++out.report.unknown_count;
  }
}

bool write_inspected_json(const FieldList& fields, const Report& report,
                          const PipelineOptions& options, std::string& out) {
  const std::size_t start = out.size();
  if (!write_canonical_json(fields, report, out)) return false;
  if (options.sender == nullptr) return true;
  // {"event": ...} becomes {"source": {...}, "event": ...}
  std::string source;
  JsonWriter w(source);
  w.begin_object().key("name").string(options.sender->source);
  w.key("sender").string(to_string(options.sender->sender)).end_object();
  out.insert(start + 1, "\"source\":" + source + ",");
  return true;
}

}  // namespace callhook
