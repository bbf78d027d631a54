#include "callhook/pipeline.h"

namespace callhook {

void inspect(const PayloadSource& source, const PipelineOptions& options, Inspection& out) {
  out.fields.clear();
  Decoded decoded = decode_payload(source, options.limits, out.fields);
  out.format = decoded.format;
  if (decoded.error) {
    out.report = Report{};
    out.report.slot.fill(-1);
    out.report.errors.push_back(std::move(*decoded.error));
    return;
  }
  out.report = validate(out.fields, options.mode);
}

}  // namespace callhook
