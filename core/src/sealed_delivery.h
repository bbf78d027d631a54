// Sealed text: a string with the config's secret values taken out as `${NAME}` references that
// only the engine puts back (internal to the core; Engine::seal and Engine::unseal use it for
// each string of a delivery that can carry a secret).
//
// The grammar of sealed text, byte by byte:
//   $$             a `$` of the original text
//   ${NAME}        the secret NAME's value as it is
//   ${NAME:pct}    its percent-encoded form (percent_encoded below)
//   ${NAME:json}   its form inside a JSON string (json_escaped below)
//   $xHH           one byte (0x80 to 0xFF, upper-case hex) that is not part of well-formed UTF-8
//   any other byte itself; any other `$` makes the text malformed.
// NAME is the config's spelling: an upper-case letter or `_`, then upper-case letters, digits,
// `_`. Every `$` of the original is doubled before anything is read back, so no text that
// merely looks like a reference (a payload field holding `${GA4_API_SECRET}`) can ever turn
// into the secret.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "callhook/redact.h"

namespace callhook {
class JsonWriter;
struct Delivery;
}  // namespace callhook

namespace callhook::detail {

/// Secrets shorter than this are not sealed (nor redacted): replacing every 1 to 3 byte run that
/// happens to equal one would rewrite ordinary text, and the config keeps only longer ones.
inline constexpr std::size_t kSealedSecretBytes = 4;

/// `value` with every byte but the RFC 3986 unreserved ones (A-Z a-z 0-9 - . _ ~) written %XX,
/// upper-case hex: what encodeURIComponent gives, but for ! ' ( ) *, which are encoded too.
[[nodiscard]] std::string percent_encoded(std::string_view value);

/// `value` as it appears between the quotes of a JSON string the core or nlohmann/json wrote:
/// `"` and `\` escaped, \b \f \n \r \t, other control characters as \u00xx (lower-case hex),
/// every other byte as it is.
[[nodiscard]] std::string json_escaped(std::string_view value);

/// `text` sealed (the grammar above): at each position the longest form of any secret of 4
/// bytes or more is replaced by its reference (a form equal to a longer or earlier one is not
/// tried twice), `$` is doubled, and bytes that are not well-formed UTF-8 are written $xHH, so
/// the result is always valid UTF-8.
[[nodiscard]] std::string seal_text(std::string_view text,
                                    const std::vector<ResolvedSecret>& secrets);

/// Why sealed text cannot be read back: `missing_secret` or `bad_sealed`, in words.
struct UnsealProblem {
  std::string code;
  std::string message;
};

/// Appends sealed `text` read back to `out`: exactly the text seal_text was given, when the
/// secrets have the values they had. False, with `problem`, for a reference to a secret not in
/// `secrets` (`missing_secret`, naming it) or text that is not sealed text (`bad_sealed`).
[[nodiscard]] bool unseal_text(std::string_view text, const std::vector<ResolvedSecret>& secrets,
                               std::string& out, UnsealProblem& problem);

/// Writes one delivery in its plain JSON form (write_delivery_json; write_outcome_json's
/// `deliveries`).
void write_delivery(JsonWriter& w, const Delivery& delivery);

}  // namespace callhook::detail
