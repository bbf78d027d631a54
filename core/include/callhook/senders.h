// Call-tracking senders other than Voice Webhooks (Twilio, CallRail, CallTrackingMetrics,
// Ringba): each sender's fields as a table, and the translation of one of its webhooks onto the
// spec's parameters, so the rest of the engine (validation, the canonical event, correlation,
// routes) is the same for every sender.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "callhook/fields.h"
#include "callhook/spec.h"
#include "callhook/validate.h"

namespace callhook {

enum class SenderFormat : std::uint8_t { voice_webhooks, twilio, callrail, ctm, ringba };
/// "voice-webhooks", "twilio", "callrail", "ctm", "ringba".
[[nodiscard]] std::string_view to_string(SenderFormat sender);
[[nodiscard]] std::optional<SenderFormat> parse_sender_format(std::string_view name);
/// Every sender format, in the order the README lists them.
[[nodiscard]] std::span<const SenderFormat> sender_formats();
/// Which revision of the sender's documentation its table follows, for people.
[[nodiscard]] std::string_view sender_revision(SenderFormat sender);

/// How a row's value becomes its parameter's: `copy` as sent (an empty value is not sent),
/// `copy_empty` as sent even when empty, `phone` with its formatting removed, `custom` by the
/// sender's own code (event, caller, times, durations, dispositions) or kept under `extra`.
enum class Read : std::uint8_t { custom, copy, copy_empty, phone };

/// One row of a sender's table: a field it sends, when, and which spec parameter it fills.
struct SenderField {
  std::string_view name;  // as the sender spells it (Ringba: the role; the config names its
                          // pixel parameter, which is the role unless `fields` says otherwise)
  std::string_view type;  // the sender's type, for people
  Presence initiate;      // required, optional or not_allowed (never sent on that event)
  Presence complete;
  std::string_view target;  // the spec parameter it fills; "" when it is kept under `extra`
  Read read;                // how (a `custom` row's rule says what the code does)
  std::string_view rule;    // how its value becomes the parameter's, for people
};

/// The sender's table (empty for voice_webhooks: the spec is its table).
[[nodiscard]] std::span<const SenderField> sender_fields(SenderFormat sender);
/// The table as Markdown, as the README shows it.
[[nodiscard]] std::string sender_fields_markdown(SenderFormat sender);
/// The words a request path may carry after /hook/{source}/ to say which webhook it is (CallRail
/// and CTM send the same body for several; a path segment tells them apart), with the event each
/// means.
[[nodiscard]] std::span<const std::pair<std::string_view, EventType>> sender_path_events(
    SenderFormat sender);

/// How one source's webhooks are read (config: `sources.NAME`, less its auth).
struct SenderSettings {
  SenderFormat sender = SenderFormat::voice_webhooks;
  std::string source;  // the source's name: the Property.Sid and Property.Name it defaults to
  Mode mode = Mode::lenient;
  /// Spec parameters given when the sender does not send them (`defaults`), e.g. Call.To for a
  /// Ringba pixel, which has no token for the number dialled.
  std::vector<std::pair<std::string, std::string>> defaults;
  /// Ringba: role -> the pixel's parameter name (`fields`); a role not listed is its own name.
  std::vector<std::pair<std::string, std::string>> fields;
};

/// The sender's webhook read onto the spec's parameters.
struct Translation {
  FieldList spec;  // the spec parameters, in the spec's order
  /// For each of `spec`'s fields, the sender field it came from ("" when given by `defaults` or
  /// by the format's own default), so a finding about it can name what the sender sent.
  std::vector<std::string> origin;
  FieldList extra;                 // the sender's fields that fill no parameter, kept under `extra`
  std::optional<EventType> event;  // which event it is, when that could be told
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;
};

/// Reads `fields` (the webhook as decoded) as `settings.sender` sends it. `path_event` is the
/// path segment after /hook/{source}/ that names the webhook, if any (sender_path_events); `now`
/// (epoch seconds) stands in for a start time the sender does not send. Codes of its findings:
/// `missing`, `empty`, `bad_datetime`, `bad_e164`, `not_integer`, `not_in_enum`, `unknown_event`
/// (which event it is cannot be told), `unknown_field` (strict mode: a field the sender's table
/// does not list; lenient: a warning, the field kept under `extra`), `caller_not_a_number`
/// (warning: a SIP or client caller is taken as anonymous). `field` names the sender's field.
void translate(const SenderSettings& settings, const FieldList& fields, std::string_view path_event,
               std::int64_t now, Translation& out);

/// Turns a finding of the spec's validation of a translation back into the sender's words: its
/// `field` becomes the sender field the parameter came from (`origin`), and its message says so.
void attribute_to_sender(const SenderSettings& settings, const Translation& translation,
                         Report& report);

}  // namespace callhook
