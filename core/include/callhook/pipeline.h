// decode -> validate -> normalize for one payload: what the CLI, the tests and every target share.
#pragma once

#include <string>

#include "callhook/decode.h"
#include "callhook/fields.h"
#include "callhook/normalize.h"
#include "callhook/validate.h"

namespace callhook {

struct PipelineOptions {
  Mode mode = Mode::lenient;
  Limits limits;
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

}  // namespace callhook
