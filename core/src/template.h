// JSON templates: any JSON value whose strings may carry {{ placeholders }} filled from a context.
//
// Every string value of a template (object keys stay literal) may contain placeholders
//
//     {{ path }}    {{ path | filter | filter:arg }}
//
// `path` is a dotted path into the context. At the context's top, a key starting with A-Z
// ("Call.Sid") is first looked up in its `fields` object (the request's parameters by name). At an
// object, the remaining path is first looked up as a literal key, then the longest dot-delimited
// prefix present literally is taken and the rest resolved below it (so "Call.Disposition" finds a
// flat form field as well as {"Call":{"Disposition":...}}). At an array, the next segment must
// be a decimal index ("items.0.sku"). Path segments are non-empty and hold no whitespace or any
// of {}|":[].
//
// Rendering:
// - A string that is exactly one placeholder (whitespace allowed inside the braces only) becomes
//   the value itself with its JSON type kept: a number stays a number, an object an object. A
//   path that resolves to nothing renders null.
// - Otherwise each placeholder is replaced by text: strings raw, null and missing values as
//   nothing, anything else as compact JSON.
// - A placeholder check_template rejects is kept literally (so is an unclosed "{{"), making the
//   mistake visible in the output instead of silently producing null.
//
// Filters, applied left to right:
//   default:ARG  ARG (a JSON scalar: "text", 42, true, null) when the value is missing, null
//                or the empty string.
//   upper, lower ASCII case mapping of strings; other values pass unchanged.
//   iso8601      a date-time to "yyyy-MM-ddTHH:mm:ssZ" (UTC, fraction dropped); null when the
//                value is not one of the accepted forms below.
//   epoch_ms     a date-time to integer milliseconds since 1970-01-01T00:00:00Z, or null.
// Accepted date-times, between years 0000 and 9999: strings "yyyy-MM-dd HH:mm:ss" (UTC, as the
// spec sends them), ISO 8601 / RFC 3339 "yyyy-MM-ddTHH:mm:ss" with an optional fraction and an
// optional "Z" or "+hh:mm"/"-hh:mm"/"+hhmm" offset (none means UTC), a bare date "yyyy-MM-dd"
// (midnight UTC), and epoch seconds as a JSON number or as a string of decimal digits (form
// fields arrive as strings). Calendar fields must be real (Feb 29 only in leap years).
#pragma once

#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "callhook/fields.h"

namespace callhook {

/// How deep a template may nest (each object or array level counts one). Deeper parts are
/// reported by check_template and copied unrendered by render_template.
inline constexpr int kMaxTemplateDepth = 64;

/// Checks every placeholder of `tpl`: unclosed "{{", empty or malformed paths, unknown filters,
/// a missing or malformed default argument, arguments given to filters that take none, and
/// nesting deeper than kMaxTemplateDepth. Returns every problem (empty when valid), each with
/// code "bad_template" and, in `field`, the JSON Pointer of the string (relative to `tpl`).
[[nodiscard]] std::vector<Diagnostic> check_template(const nlohmann::json& tpl);

/// Renders `tpl` against `context` as described above. Never aborts, whatever the inputs.
[[nodiscard]] nlohmann::json render_template(const nlohmann::json& tpl,
                                             const nlohmann::json& context);

/// Appends the path of every placeholder of `tpl` that render_template fills (as check_template
/// accepts them), in order.
void template_paths(const nlohmann::json& tpl, std::vector<std::string>& out);

/// A template read once (when the engine is built from its config): its strings split into
/// text and placeholders, the filters' arguments parsed, so that rendering it parses nothing.
/// render(context) is render_template(tpl, context), the same document. Copies share it.
class CompiledTemplate {
 public:
  CompiledTemplate();
  explicit CompiledTemplate(const nlohmann::json& tpl);
  [[nodiscard]] nlohmann::json render(const nlohmann::json& context) const;
  /// Appends render(context) as detail::dump_compact_json writes it, without building it.
  void write(std::string& out, const nlohmann::json& context) const;

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
};

}  // namespace callhook
