// The canonical call event: typed, nested JSON built from a validated payload.
#pragma once

#include <string>

#include "callhook/fields.h"
#include "callhook/validate.h"

namespace callhook {

/// Appends the canonical event of a valid payload to `out` as compact JSON. The shape is the
/// one in core/schema/call-event.schema.json: spec rows map to their canonical paths, integers are
/// numbers, Call.StartDate is ISO 8601 UTC, comma lists are arrays, empty values are null,
/// `call.from.anonymous` tells an anonymous caller, and unknown fields (lenient mode) are kept
/// under `extra`. Returns false, writing nothing, when the report is not valid.
bool write_canonical_json(const FieldList& fields, const Report& report, std::string& out);

/// The JSON Schema (draft 2020-12) of the canonical event, generated from the spec table.
[[nodiscard]] std::string canonical_event_schema();

/// The spec table as a Markdown table (parameter, type, presence per event, canonical path),
/// as the README shows it.
[[nodiscard]] std::string spec_fields_markdown();

}  // namespace callhook
