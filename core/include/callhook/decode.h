// Decoding raw webhook bytes (GET query, form body, JSON body) into a FieldList.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "callhook/fields.h"

namespace callhook {

/// Bounds on what one payload may hold. Exceeding any of them refuses the payload with a
/// diagnostic whose code names the bound (`body_too_large`, `too_many_fields`, `name_too_long`,
/// `value_too_long`).
struct Limits {
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_fields = 200;
  std::size_t max_name_bytes = 256;
  std::size_t max_value_bytes = 8 * 1024;
};

enum class PayloadFormat { none, query, form, json };
[[nodiscard]] std::string_view to_string(PayloadFormat format);

/// The URL Standard's application/x-www-form-urlencoded parser, byte for byte: sequences split on
/// '&', empty sequences skipped, name and value split at the first '=', '+' becomes a space, '%'
/// followed by two hex digits is decoded and any other '%' kept, and bytes that are not valid
/// UTF-8 become U+FFFD (each maximal invalid subpart, as the Encoding Standard's decoder does).
/// Appends to `out`; returns a diagnostic when a limit is exceeded.
[[nodiscard]] std::optional<Diagnostic> decode_form(std::string_view bytes, const Limits& limits,
                                                    FieldList& out);

/// A JSON object whose members are scalars or nested objects; nested keys are joined with '.'
/// ({"Call":{"Sid":"x"}} gives Call.Sid). Numbers keep their source text, booleans become
/// "true"/"false", null becomes "", and an array of scalars becomes one comma-joined value.
/// Duplicate keys are kept in order. Codes: `invalid_json`, `json_not_object`,
/// `unsupported_json` (arrays holding objects or arrays, unless `drop_structured_arrays`: such an
/// array is then left out, as senders' JSON holds them beside the call's fields), and the limit
/// codes.
[[nodiscard]] std::optional<Diagnostic> decode_json(std::string_view bytes, const Limits& limits,
                                                    FieldList& out,
                                                    bool drop_structured_arrays = false);

/// The query of `url` (between the first '?' and the first '#'), or empty.
[[nodiscard]] std::string_view query_of(std::string_view url);

/// Where a payload came from, as a shell or the CLI saw it.
struct PayloadSource {
  std::string_view method = "POST";  // "GET" reads the URL query, anything else the body
  std::string_view url;              // request target or absolute URL
  std::optional<std::string_view> content_type;  // absent: sniffed from the body
  std::string_view body;
  /// JSON arrays of objects or arrays are left out instead of refused (decode_json).
  bool drop_structured_arrays = false;
};

struct Decoded {
  PayloadFormat format = PayloadFormat::none;
  std::optional<Diagnostic> error;  // `unsupported_media_type`, `invalid_json`, limits, ...
};

/// Decodes a GET query or a POST body. A POST body's media type picks the decoder:
/// application/x-www-form-urlencoded, application/json or any */*+json; no type at all is sniffed
/// (a body whose first non-blank byte is '{' is JSON, anything else a form); any other type is
/// refused with `unsupported_media_type`. A leading UTF-8 byte order mark is ignored.
[[nodiscard]] Decoded decode_payload(const PayloadSource& source, const Limits& limits,
                                     FieldList& out);

/// The essence of a Content-Type header value, lower-cased, without parameters.
[[nodiscard]] std::string media_type_essence(std::string_view content_type);

}  // namespace callhook
