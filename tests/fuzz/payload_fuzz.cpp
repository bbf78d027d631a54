// libFuzzer target over decode + validate + normalize. The first byte picks how the rest arrives
// (GET query, form, JSON, sniffed) and the mode; every JSON the core writes must parse back.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "callhook/pipeline.h"

namespace {

void require_json(const std::string& text) {
  if (nlohmann::json::parse(text, nullptr, false).is_discarded()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);

  callhook::PayloadSource source;
  std::string url;
  switch (selector & 3) {
    case 0:
      source.method = "GET";
      url = "/hook?" + rest;
      source.url = url;
      break;
    case 1:
      source.content_type = "application/x-www-form-urlencoded";
      break;
    case 2:
      source.content_type = "application/json";
      break;
    default:
      break;  // sniffed
  }
  if ((selector & 3) != 0) source.body = rest;

  callhook::PipelineOptions options;
  options.mode = (selector & 4) ? callhook::Mode::strict : callhook::Mode::lenient;
  if (selector & 8) {  // small limits reach every limit path quickly
    options.limits.max_fields = 8;
    options.limits.max_name_bytes = 16;
    options.limits.max_value_bytes = 32;
    options.limits.max_body_bytes = 512;
  }
  callhook::Inspection inspection;
  callhook::inspect(source, options, inspection);

  std::string report;
  callhook::write_report_json(inspection.report, report);
  require_json(report);
  std::string canonical;
  if (callhook::write_canonical_json(inspection.fields, inspection.report, canonical)) {
    require_json(canonical);
  } else if (inspection.report.valid) {
    std::abort();  // a valid payload must always normalise
  }
  return 0;
}
