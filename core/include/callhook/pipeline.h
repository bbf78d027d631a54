// decode -> validate -> normalize for one payload: what the CLI, the tests and every target share.
#pragma once

#include <string>

#include "callhook/decode.h"
#include "callhook/fields.h"
#include "callhook/normalize.h"
#include "callhook/senders.h"
#include "callhook/validate.h"

namespace callhook {

struct PipelineOptions {
  Mode mode = Mode::lenient;
  Limits limits;
  /// The sender whose webhook this is (none, or voice_webhooks: the spec's format, in `mode`).
  /// Another sender's webhook is translated onto the spec's parameters (callhook/senders.h) and
  /// checked in the sender's own mode; its fields that fill no parameter follow them in
  /// `Inspection::fields`, kept under `extra`.
  const SenderSettings* sender = nullptr;
  std::string_view path_event;  // the path's word for which webhook it is (senders.h)
  std::int64_t now = 0;         // stands in for a start time the sender does not send
};

/// The decoded fields and the verdict on them. Reusable: inspect() clears it first and keeps
/// its buffers' capacity, so checking many payloads in a row allocates little.
struct Inspection {
  FieldList fields;
  PayloadFormat format = PayloadFormat::none;
  Report report;
};

/// Decodes and validates one payload. A decoding failure (limit, media type, bad JSON) becomes
/// the report's only error, with the decoder's code.
void inspect(const PayloadSource& source, const PipelineOptions& options, Inspection& out);

/// The canonical event of inspected fields (write_canonical_json), with the source it came from
/// (`source`: {"name", "sender"}) first when `options.sender` is set.
bool write_inspected_json(const FieldList& fields, const Report& report,
                          const PipelineOptions& options, std::string& out);

}  // namespace callhook
