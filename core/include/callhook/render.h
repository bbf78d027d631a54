// Rendering the body a destination receives from one accepted event.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "callhook/config.h"
#include "callhook/delivery.h"

namespace callhook {

struct Rendered {
  std::string body;  // set when `skipped` is empty
  std::string content_type = "application/json";
  std::string skipped;  // why nothing can be sent (e.g. no GA client id); empty if sent
};

/// Renders `destination`'s body. `canonical` is the canonical event as written by
/// write_canonical_json; `context` is the document filters and templates see: the canonical
/// event's keys at the top, every decoded parameter by its spec name ("Call.Sid"), and
/// `fields`, `headers` and `query` objects.
[[nodiscard]] Rendered render(const Destination& destination, std::string_view canonical,
                              const nlohmann::json& context);

/// How `format` reads a destination's 2xx answer: nullptr when every 2xx is a delivery. Google
/// Ads answers 200 with the rows it rejected in `partialFailureError`.
[[nodiscard]] AnswerReader answer_reader(RenderFormat format);

}  // namespace callhook
