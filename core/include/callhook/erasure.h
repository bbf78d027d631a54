// Erasure: which stored texts (call records, sealed deliveries, dead letters) concern a caller an
// operator was asked to forget, named by the call's Call.Sid or by the caller's phone number.
// The shells delete what matches; the core only decides what matches.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace callhook {

/// Whom to erase: a call (its Call.Sid) and/or a caller (a phone number in E.164, as
/// erasure_subject normalizes it). Either may be empty; a text concerns the subject when it
/// concerns the call or the number.
struct ErasureSubject {
  std::string call_sid;
  std::string phone;
};

/// Why erasure_subject refused: `code` is `bad_phone` (the number is not one, `message` says
/// why) or `empty_subject` (neither a Call.Sid nor a phone was given).
struct ErasureProblem {
  std::string code;
  std::string message;
};

/// A phone number as an operator types it, in E.164: a leading `+` (after an optional `tel:`),
/// then 7 to 15 digits, the first not 0, with spaces, `-`, `.`, `(` and `)` between them
/// allowed and dropped (`+1 (415) 555-0123` is `+14155550123`). Anything else, a number without
/// its `+` and country code included (it cannot be told from a national one), is nullopt with
/// the reason in `problem`.
[[nodiscard]] std::optional<std::string> normalize_phone(std::string_view text,
                                                         std::string& problem);

/// The subject for a Call.Sid and/or a phone number (normalized by normalize_phone; empty: not
/// given). nullopt with `problem` for a bad number or when both are empty.
[[nodiscard]] std::optional<ErasureSubject> erasure_subject(std::string_view call_sid,
                                                            std::string_view phone,
                                                            ErasureProblem& problem);

/// True when `text`, a stored record (write_record), a delivery (plain or sealed) or any other
/// stored text (a shell's dead-letter entry), concerns the subject's call or phone number.
///
/// The call: a record whose events are that call's (`call.sid`); any JSON object with a
/// non-empty string `call_sid` equal to it (deliveries, the shells' entries); a delivery without
/// one whose idempotency key is that call's (`Call.Sid:what:route`); in any other text, the
/// Call.Sid as a whole word (not touching a letter or digit).
///
/// The number (`subject.phone` in E.164, e.g. `+14155550123`): in a record, a caller number
/// (`call.from.number`) equal to it, or the number in any of the forms below in any other value
/// of its events but the business's own numbers (`call.to.number`, `call.endpoint`), which
/// every call to that line carries. In any other text, any of its forms: `+14155550123`
/// (also inside `tel:`), percent-encoded `%2B14155550123`, JSON-escaped `\u002B14155550123`,
/// the digits alone `14155550123` not touching a letter or digit (`tel:14155550123`,
/// `"phone":"14155550123"`), and the lower- or upper-case hex SHA-256 of `+14155550123` (Google
/// Ads' `hashedPhoneNumber`) or of `14155550123` (Meta's `ph`). A longer number that starts with
/// the same digits is not it. National forms (`(415) 555-0123`) are not looked for.
/// A subject whose phone is not normalize_phone's form matches nothing by number.
[[nodiscard]] bool mentions(std::string_view text, const ErasureSubject& subject);

}  // namespace callhook
