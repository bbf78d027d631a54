// Each sender's table and its translation onto the spec's parameters. The tables follow the
// senders' documentation as summarised in the project's senders contract;
// sender_revision says which revision each follows.
#include "callhook/senders.h"

#include <algorithm>
#include <array>

#include "text_util.h"
#include "utf8.h"
#include "value_formats.h"

namespace callhook {
namespace {

using enum Presence;

constexpr std::array kSenders{SenderFormat::voice_webhooks, SenderFormat::twilio,
                              SenderFormat::callrail, SenderFormat::ctm, SenderFormat::ringba};

// clang-format off
constexpr std::array kTwilio{
  SenderField{"CallSid", "CA + 32 hex", required, required, "Call.Sid", Read::copy_empty, "as sent"},
  SenderField{"AccountSid", "AC + 32 hex", required, required, "Account.Sid", Read::copy_empty, "as sent"},
  SenderField{"CallStatus", "queued, initiated, ringing, in-progress, completed, busy, no-answer, failed, canceled", required, required, "Event", Read::custom, "queued, initiated, ringing and in-progress are Call.Initiate; completed, busy, no-answer, failed and canceled are Call.Complete"},
  SenderField{"From", "E.164, client:NAME or sip:URI", required, required, "Call.From", Read::custom, "formatting removed; Twilio's anonymous, restricted, unknown and blocked numbers, and client: or sip: callers, are anonymous"},
  SenderField{"To", "E.164", required, required, "Call.To", Read::phone, "formatting removed"},
  SenderField{"FromCountry", "ISO 3166 alpha-2", optional, optional, "Call.From.Country", Read::copy_empty, "as sent"},
  SenderField{"FromState", "text", optional, optional, "Call.From.Region", Read::copy_empty, "as sent"},
  SenderField{"FromCity", "text", optional, optional, "Call.From.City", Read::copy_empty, "as sent"},
  SenderField{"Timestamp", "RFC 2822, UTC", optional, optional, "Call.StartDate", Read::custom, "Call.Initiate: the Timestamp; Call.Complete: the Timestamp less CallDuration; without a Timestamp, the time received"},
  SenderField{"CallDuration", "integer seconds", not_allowed, optional, "Call.Duration", Read::custom, "as sent; 0 when not sent (busy, no-answer, failed, canceled)"},
  SenderField{"RecordingUrl", "URL", not_allowed, optional, "Call.Recording.Uri", Read::copy, "as sent"},
  SenderField{"AnsweredBy", "human, machine_start, machine_end_*, fax, unknown", optional, optional, "", Read::custom, "kept; CallStatus completed is ANSWERED whoever answered"},
  SenderField{"Direction", "inbound, outbound-api, outbound-dial, trunking-*", optional, optional, "", Read::custom, "kept"},
  SenderField{"ApiVersion", "2010-04-01", optional, optional, "", Read::custom, "kept"},
  SenderField{"Caller", "as From", optional, optional, "", Read::custom, "kept (legacy duplicate of From)"},
  SenderField{"Called", "as To", optional, optional, "", Read::custom, "kept (legacy duplicate of To)"},
  SenderField{"ForwardedFrom", "E.164", optional, optional, "", Read::custom, "kept"},
  SenderField{"CallerName", "text", optional, optional, "", Read::custom, "kept"},
  SenderField{"ParentCallSid", "CA + 32 hex", optional, optional, "", Read::custom, "kept"},
  SenderField{"FromZip", "text", optional, optional, "", Read::custom, "kept"},
  SenderField{"ToCity", "text", optional, optional, "", Read::custom, "kept"},
  SenderField{"ToState", "text", optional, optional, "", Read::custom, "kept"},
  SenderField{"ToZip", "text", optional, optional, "", Read::custom, "kept"},
  SenderField{"ToCountry", "text", optional, optional, "", Read::custom, "kept"},
  SenderField{"CallerCity", "text", optional, optional, "", Read::custom, "kept"},
  SenderField{"CallerState", "text", optional, optional, "", Read::custom, "kept"},
  SenderField{"CallerZip", "text", optional, optional, "", Read::custom, "kept"},
  SenderField{"CallerCountry", "text", optional, optional, "", Read::custom, "kept"},
  SenderField{"CalledCity", "text", optional, optional, "", Read::custom, "kept"},
  SenderField{"CalledState", "text", optional, optional, "", Read::custom, "kept"},
  SenderField{"CalledZip", "text", optional, optional, "", Read::custom, "kept"},
  SenderField{"CalledCountry", "text", optional, optional, "", Read::custom, "kept"},
  SenderField{"CallbackSource", "call-progress-events", optional, optional, "", Read::custom, "kept"},
  SenderField{"SequenceNumber", "integer", optional, optional, "", Read::custom, "kept; a callback sent again has the same one, and is a duplicate"},
  SenderField{"Duration", "integer (billed minutes)", not_allowed, optional, "", Read::custom, "kept"},
  SenderField{"SipResponseCode", "integer", optional, optional, "", Read::custom, "kept"},
  SenderField{"MachineDetectionDuration", "milliseconds", optional, optional, "", Read::custom, "kept"},
  SenderField{"RecordingSid", "RE + 32 hex", not_allowed, optional, "", Read::custom, "kept"},
  SenderField{"RecordingDuration", "integer seconds", not_allowed, optional, "", Read::custom, "kept"},
  SenderField{"CallToken", "opaque", optional, optional, "", Read::custom, "kept"},
  SenderField{"StirVerstat", "text", optional, optional, "", Read::custom, "kept"},
};

constexpr std::array kCallRail{
  SenderField{"resource_id", "CAL...", optional, optional, "Call.Sid", Read::copy, "as sent; without it, `id`"},
  SenderField{"id", "integer or CAL...", optional, optional, "Call.Sid", Read::copy, "when there is no resource_id; one of the two is required"},
  SenderField{"company_resource_id", "COM...", optional, optional, "Account.Sid", Read::copy, "as sent; without it, company_id; without both, defaults"},
  SenderField{"company_id", "integer or COM...", optional, optional, "Account.Sid", Read::copy, "when there is no company_resource_id"},
  SenderField{"company_name", "text", optional, optional, "Property.Name", Read::copy, "as sent; without it, the source's name"},
  SenderField{"start_time", "ISO 8601 with offset", required, required, "Call.StartDate", Read::custom, "converted to UTC"},
  SenderField{"customer_phone_number", "E.164", required, required, "Call.From", Read::custom, "formatting removed; empty, anonymous, restricted, private or unknown is anonymous"},
  SenderField{"tracking_phone_number", "E.164", required, required, "Call.To", Read::phone, "formatting removed"},
  SenderField{"source_name", "text", optional, optional, "Call.To.Name", Read::copy, "as sent (the tracker's name)"},
  SenderField{"customer_country", "text", optional, optional, "Call.From.Country", Read::copy_empty, "as sent"},
  SenderField{"customer_state", "text", optional, optional, "Call.From.Region", Read::copy_empty, "as sent"},
  SenderField{"customer_city", "text", optional, optional, "Call.From.City", Read::copy_empty, "as sent"},
  SenderField{"business_phone_number", "E.164 or empty", optional, optional, "Call.Endpoint", Read::phone, "formatting removed"},
  SenderField{"duration", "integer or text seconds", optional, optional, "Call.Duration", Read::custom, "a number in either form; 0 when empty"},
  SenderField{"answered", "boolean", optional, optional, "Call.Disposition", Read::custom, "true is ANSWERED; otherwise NO ANSWER (voicemail, missed and abandoned calls alike)"},
  SenderField{"voicemail", "boolean", optional, optional, "", Read::custom, "kept"},
  SenderField{"call_type", "answered, missed, abandonded, voicemail, voicemail_transcription, in_progress, outbound", optional, optional, "", Read::custom, "kept; in_progress is Call.Initiate when the path names no event"},
  SenderField{"recording", "URL", not_allowed, optional, "Call.Recording.Uri", Read::copy, "as sent"},
  SenderField{"utm_source", "text", optional, optional, "Attribution.Source", Read::copy, "as sent; without it, source"},
  SenderField{"source", "text", optional, optional, "Attribution.Source", Read::copy, "when there is no utm_source"},
  SenderField{"utm_medium", "text", optional, optional, "Attribution.Medium", Read::copy, "as sent; without it, medium"},
  SenderField{"medium", "text", optional, optional, "Attribution.Medium", Read::copy, "when there is no utm_medium"},
  SenderField{"utm_campaign", "text", optional, optional, "Attribution.Campaign", Read::copy, "as sent; without it, campaign"},
  SenderField{"campaign", "text", optional, optional, "Attribution.Campaign", Read::copy, "when there is no utm_campaign"},
  SenderField{"utm_content", "text", optional, optional, "Attribution.Content", Read::copy, "as sent"},
  SenderField{"landing_page_url", "URL", optional, optional, "Session.LandingUri", Read::custom, "as sent; the session group is sent when it is"},
  SenderField{"last_requested_url", "URL", optional, optional, "Session.ConversionUri", Read::custom, "as sent; without it, landing_page_url"},
  SenderField{"keywords", "text", optional, optional, "Session.Keywords", Read::custom, "as sent; without it, utm_term"},
  SenderField{"utm_term", "text", optional, optional, "Session.Keywords", Read::custom, "when there are no keywords"},
  SenderField{"gclid", "text", optional, optional, "Google.AdWords.ClickId", Read::copy, "as sent"},
  SenderField{"ga", "_ga cookie", optional, optional, "Google.Analytics.ClientId", Read::custom, "the client id (GA1.n. prefix removed)"},
  SenderField{"*", "any", optional, optional, "", Read::custom, "every other field CallRail sends is kept (its bodies add fields over time); arrays of objects are left out"},
};

constexpr std::array kCtm{
  SenderField{"id", "integer", required, required, "Call.Sid", Read::copy_empty, "as sent"},
  SenderField{"account_id", "integer", optional, optional, "Account.Sid", Read::copy, "as sent; without it, defaults"},
  SenderField{"unix_time", "epoch seconds", optional, optional, "Call.StartDate", Read::custom, "converted to UTC; without it, called_at"},
  SenderField{"called_at", "yyyy-MM-dd hh:mm AM -hh:mm", optional, optional, "Call.StartDate", Read::custom, "when there is no unix_time; one of the two is required"},
  SenderField{"caller_number", "E.164", required, required, "Call.From", Read::custom, "formatting removed; empty, anonymous, restricted or unknown is anonymous"},
  SenderField{"tracking_number", "E.164", required, required, "Call.To", Read::phone, "formatting removed"},
  SenderField{"tracking_label", "text", optional, optional, "Call.To.Name", Read::copy, "as sent"},
  SenderField{"country", "text", optional, optional, "Call.From.Country", Read::copy_empty, "as sent"},
  SenderField{"state", "text", optional, optional, "Call.From.Region", Read::copy_empty, "as sent"},
  SenderField{"city", "text", optional, optional, "Call.From.City", Read::copy_empty, "as sent"},
  SenderField{"business_number", "E.164", optional, optional, "Call.Endpoint", Read::phone, "formatting removed"},
  SenderField{"duration", "integer seconds (ring and talk)", not_allowed, optional, "Call.Duration", Read::custom, "as sent; 0 when not sent"},
  SenderField{"dial_status", "completed, answered, busy, no-answer, canceled, failed, ...", not_allowed, optional, "Call.Disposition", Read::custom, "completed or answered with talk_time > 0 is ANSWERED; busy is BUSY; failed is FAILED; anything else NO ANSWER"},
  SenderField{"talk_time", "integer seconds", not_allowed, optional, "", Read::custom, "kept"},
  SenderField{"ring_time", "integer seconds", not_allowed, optional, "", Read::custom, "kept"},
  SenderField{"audio", "URL", not_allowed, optional, "Call.Recording.Uri", Read::copy, "as sent"},
  SenderField{"source", "text", optional, optional, "Attribution.Source", Read::copy, "as sent"},
  SenderField{"medium", "text", optional, optional, "Attribution.Medium", Read::copy, "as sent"},
  SenderField{"campaign", "text", optional, optional, "Attribution.Campaign", Read::copy, "as sent"},
  SenderField{"ad_content", "text", optional, optional, "Attribution.Content", Read::copy, "as sent"},
  SenderField{"location", "URL", optional, optional, "Session.LandingUri", Read::custom, "as sent, and as Session.ConversionUri; the session group is sent when it is"},
  SenderField{"search", "text", optional, optional, "Session.Keywords", Read::custom, "as sent; without it, keyword"},
  SenderField{"keyword", "text", optional, optional, "Session.Keywords", Read::custom, "when there is no search"},
  SenderField{"ga.gclid", "text", optional, optional, "Google.AdWords.ClickId", Read::copy, "as sent"},
  SenderField{"ga.cid", "text", optional, optional, "Google.Analytics.ClientId", Read::copy, "as sent"},
  SenderField{"*", "any", optional, optional, "", Read::custom, "every other field CTM sends is kept; arrays of objects (call_path, legs) are left out"},
};

constexpr std::array kRingba{
  SenderField{"event", "incoming, connected, completed, finalized, error, converted, payout, recording", required, required, "Event", Read::custom, "incoming and connected are Call.Initiate; the others Call.Complete (converted, payout and recording after the call's end are duplicates of it)"},
  SenderField{"call_id", "[Call:InboundCallId]", required, required, "Call.Sid", Read::copy_empty, "as sent"},
  SenderField{"account", "literal", optional, optional, "Account.Sid", Read::copy, "as sent; without it, defaults, else the source's name"},
  SenderField{"caller", "[tag:InboundNumber:Number] (or Number-NoPlus)", required, required, "Call.From", Read::custom, "formatting removed, '+' added to 11 digits or more; empty or anonymous is anonymous"},
  SenderField{"tracking_number", "a literal per pixel", optional, optional, "Call.To", Read::phone, "formatting removed; Ringba has no token for it: put it in the URL or in defaults"},
  SenderField{"start", "[Call:CallDateTime]: epoch s or ms, ISO 8601, MM/DD/YYYY hh:mm:ss AM", optional, optional, "Call.StartDate", Read::custom, "converted to UTC; without it, the time received (less the duration on Call.Complete)"},
  SenderField{"duration", "[tag:CallLength:Total] seconds", not_allowed, optional, "Call.Duration", Read::custom, "as sent; 0 when empty"},
  SenderField{"recording", "[Call:RecordingUrl]", not_allowed, optional, "Call.Recording.Uri", Read::copy, "as sent"},
  SenderField{"city", "text", optional, optional, "Call.From.City", Read::copy_empty, "as sent"},
  SenderField{"state", "[tag:InboundNumber:State]", optional, optional, "Call.From.Region", Read::copy_empty, "as sent"},
  SenderField{"country", "text", optional, optional, "Call.From.Country", Read::copy_empty, "as sent"},
  SenderField{"utm_source", "[tag:User:utm_source]", optional, optional, "Attribution.Source", Read::copy, "as sent"},
  SenderField{"utm_medium", "[tag:User:utm_medium]", optional, optional, "Attribution.Medium", Read::copy, "as sent"},
  SenderField{"utm_campaign", "[tag:User:utm_campaign]", optional, optional, "Attribution.Campaign", Read::copy, "as sent"},
  SenderField{"utm_content", "[tag:User:utm_content]", optional, optional, "Attribution.Content", Read::copy, "as sent"},
  SenderField{"landing_page", "[tag:User:...]", optional, optional, "Session.LandingUri", Read::custom, "as sent, and as Session.ConversionUri"},
  SenderField{"gclid", "[tag:Integration:googleClickId]", optional, optional, "Google.AdWords.ClickId", Read::copy, "as sent"},
  SenderField{"zip", "[tag:Geo:ZipCode]", optional, optional, "", Read::custom, "kept"},
  SenderField{"campaign", "[tag:Campaign:Name]", optional, optional, "", Read::custom, "kept"},
  SenderField{"publisher", "[tag:Publisher:Name]", optional, optional, "", Read::custom, "kept"},
  SenderField{"target", "[tag:Target:Name]", optional, optional, "", Read::custom, "kept"},
  SenderField{"revenue", "[Call:ConversionAmount]", optional, optional, "", Read::custom, "kept"},
  SenderField{"payout", "[Call:ConversionPayout]", optional, optional, "", Read::custom, "kept"},
};
// clang-format on

using PathEvent = std::pair<std::string_view, EventType>;
constexpr std::array<PathEvent, 2> kGenericPathEvents{
    {{"initiate", EventType::initiate}, {"complete", EventType::complete}}};
constexpr std::array<PathEvent, 8> kCallRailPathEvents{{{"initiate", EventType::initiate},
                                                        {"complete", EventType::complete},
                                                        {"pre-call", EventType::initiate},
                                                        {"answered", EventType::initiate},
                                                        {"post-call", EventType::complete},
                                                        {"updated", EventType::complete},
                                                        {"outbound-post-call", EventType::complete},
                                                        {"outbound-updated", EventType::complete}}};
constexpr std::array<PathEvent, 4> kCtmPathEvents{{{"initiate", EventType::initiate},
                                                   {"complete", EventType::complete},
                                                   {"start", EventType::initiate},
                                                   {"end", EventType::complete}}};

// ---- values -------------------------------------------------------------------------------

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string lower(std::string_view text) {
  return detail::ascii_lower_copy(text);
}

// A phone number with its formatting (spaces, dashes, dots, parentheses) removed, and '+' put
// before a number of 11 digits or more that has none (Ringba's Number-NoPlus, a NANP number
// with its country code). Anything else stays as sent, for the spec's check to refuse.
std::string phone_number(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '\t') continue;
    out.push_back(c);
  }
  if (out.size() >= 11 && detail::all_digits(out) && out[0] != '0') out.insert(out.begin(), '+');
  return out;
}

bool anonymous_word(std::string_view text) {
  const std::string l = lower(text);
  return l.empty() || l == "anonymous" || l == "restricted" || l == "private" || l == "unknown" ||
         l == "blocked" || l == "unavailable";
}

// Twilio gives callers who withhold their number these numbers (anonymous, restricted, unknown,
// blocked).
bool twilio_withheld(std::string_view number) {
  return number == "+266696687" || number == "+86282452253" || number == "+8656696" ||
         number == "+2562533";
}

std::optional<std::int64_t> parse_number(std::string_view text) {
  if (text.empty()) return std::nullopt;
  // "95", "95.0" (JSON numbers keep their source text)
  const std::size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  if (dot != std::string_view::npos) {
    for (const char c : text.substr(dot + 1)) {
      if (c != '0') return std::nullopt;
    }
  }
  if (!detail::all_digits(whole) || whole.size() > 15) return std::nullopt;
  return detail::parse_int64(whole);
}

int month_number(std::string_view name) {
  static constexpr std::array<std::string_view, 12> kMonths{
      "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  const std::string l = lower(name.substr(0, 3));
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (name.size() >= 3 && l == kMonths[i]) return static_cast<int>(i) + 1;
  }
  return 0;
}

// Reads unsigned digits at `at`, `min`..`max` of them.
std::optional<int> digits_at(std::string_view s, std::size_t& at, std::size_t min,
                             std::size_t max) {
  std::size_t n = 0;
  int value = 0;
  while (at + n < s.size() && n < max && is_digit(s[at + n])) {
    value = value * 10 + (s[at + n] - '0');
    ++n;
  }
  if (n < min) return std::nullopt;
  at += n;
  return value;
}

// A leap second (60, as RFC 2822 and ISO 8601 allow) counts as the second before it.
std::optional<std::int64_t> civil_epoch(int y, int mo, int d, int h, int mi, int se) {
  return detail::civil_seconds(y, mo, d, h, mi, se == 60 ? 59 : se);
}

// "+hh:mm", "+hhmm", "Z", "UTC", "GMT" as seconds east of UTC.
std::optional<std::int64_t> zone_offset(std::string_view z) {
  if (z == "Z" || z == "z" || z == "UTC" || z == "GMT" || z == "UT") return 0;
  if (z.size() < 3 || (z[0] != '+' && z[0] != '-')) return std::nullopt;
  std::string digits;
  for (const char c : z.substr(1)) {
    if (c == ':') continue;
    if (!is_digit(c)) return std::nullopt;
    digits.push_back(c);
  }
  if (digits.size() != 4 && digits.size() != 2) return std::nullopt;
  const int h = (digits[0] - '0') * 10 + (digits[1] - '0');
  const int m = digits.size() == 4 ? (digits[2] - '0') * 10 + (digits[3] - '0') : 0;
  if (h > 23 || m > 59) return std::nullopt;
  const std::int64_t seconds = h * 3600 + m * 60;
  return z[0] == '-' ? -seconds : seconds;
}

// ISO 8601 / RFC 3339: yyyy-MM-dd[T ]HH:mm[:ss[.fff]](Z|±hh:mm); no zone is UTC.
std::optional<std::int64_t> parse_iso8601(std::string_view s) {
  std::size_t at = 0;
  const auto y = digits_at(s, at, 4, 4);
  if (!y || at >= s.size() || s[at++] != '-') return std::nullopt;
  const auto mo = digits_at(s, at, 2, 2);
  if (!mo || at >= s.size() || s[at++] != '-') return std::nullopt;
  const auto d = digits_at(s, at, 2, 2);
  if (!d || at >= s.size() || (s[at] != 'T' && s[at] != 't' && s[at] != ' ')) return std::nullopt;
  ++at;
  const auto h = digits_at(s, at, 2, 2);
  if (!h || at >= s.size() || s[at++] != ':') return std::nullopt;
  const auto mi = digits_at(s, at, 2, 2);
  if (!mi) return std::nullopt;
  int se = 0;
  if (at < s.size() && s[at] == ':') {
    ++at;
    const auto sec = digits_at(s, at, 2, 2);
    if (!sec) return std::nullopt;
    se = *sec;
    if (at < s.size() && (s[at] == '.' || s[at] == ',')) {
      ++at;
      if (!digits_at(s, at, 1, 9)) return std::nullopt;
    }
  }
  std::int64_t offset = 0;
  if (at < s.size()) {
    const auto z = zone_offset(s.substr(at));
    if (!z) return std::nullopt;
    offset = *z;
  }
  const auto local = civil_epoch(*y, *mo, *d, *h, *mi, se);
  if (!local) return std::nullopt;
  return *local - offset;
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',')) ++i;
    const std::size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != ',') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// hh:mm[:ss] with an optional AM/PM word after it.
bool clock_time(std::string_view text, std::optional<std::string_view> meridiem, int& h, int& mi,
                int& se) {
  std::size_t at = 0;
  const auto hh = digits_at(text, at, 1, 2);
  if (!hh || at >= text.size() || text[at++] != ':') return false;
  const auto mm = digits_at(text, at, 2, 2);
  if (!mm) return false;
  se = 0;
  if (at < text.size()) {
    if (text[at++] != ':') return false;
    const auto ss = digits_at(text, at, 2, 2);
    if (!ss || at != text.size()) return false;
    se = *ss;
  }
  h = *hh;
  mi = *mm;
  if (meridiem) {
    const std::string m = lower(*meridiem);
    if ((m != "am" && m != "pm") || h < 1 || h > 12) return false;
    h = h % 12 + (m == "pm" ? 12 : 0);
  }
  return true;
}

// RFC 2822: [Day,] dd Mon yyyy HH:mm[:ss] zone (Twilio's Timestamp).
std::optional<std::int64_t> parse_rfc2822(std::string_view s) {
  std::vector<std::string_view> w = words(s);
  if (!w.empty() && !w[0].empty() && !is_digit(w[0][0])) w.erase(w.begin());  // the day name
  if (w.size() != 5) return std::nullopt;
  std::size_t at = 0;
  const auto d = digits_at(w[0], at, 1, 2);
  const int mo = month_number(w[1]);
  std::size_t yat = 0;
  const auto y = digits_at(w[2], yat, 4, 4);
  int h = 0;
  int mi = 0;
  int se = 0;
  const auto zone = zone_offset(w[4]);
  if (!d || at != w[0].size() || mo == 0 || !y || yat != w[2].size() ||
      !clock_time(w[3], std::nullopt, h, mi, se) || !zone) {
    return std::nullopt;
  }
  const auto local = civil_epoch(*y, mo, *d, h, mi, se);
  if (!local) return std::nullopt;
  return *local - *zone;
}

// CTM's called_at: "yyyy-MM-dd hh:mm AM -hh:mm".
std::optional<std::int64_t> parse_ctm_called_at(std::string_view s) {
  const std::vector<std::string_view> w = words(s);
  if (w.size() != 4) return std::nullopt;
  std::size_t at = 0;
  const auto y = digits_at(w[0], at, 4, 4);
  if (!y || at >= w[0].size() || w[0][at++] != '-') return std::nullopt;
  const auto mo = digits_at(w[0], at, 2, 2);
  if (!mo || at >= w[0].size() || w[0][at++] != '-') return std::nullopt;
  const auto d = digits_at(w[0], at, 2, 2);
  int h = 0;
  int mi = 0;
  int se = 0;
  const auto zone = zone_offset(w[3]);
  if (!d || at != w[0].size() || !clock_time(w[1], w[2], h, mi, se) || !zone) return std::nullopt;
  const auto local = civil_epoch(*y, *mo, *d, h, mi, se);
  if (!local) return std::nullopt;
  return *local - *zone;
}

// Ringba's time tokens: epoch seconds or milliseconds, ISO 8601, "MM/DD/YYYY hh:mm:ss AM" (UTC),
// or the spec's own form.
std::optional<std::int64_t> parse_ringba_time(std::string_view s) {
  if (detail::all_digits(s)) {
    const auto n = detail::parse_int64(s);
    if (!n) return std::nullopt;
    return s.size() >= 13 ? *n / 1000 : *n;
  }
  if (const auto iso = parse_iso8601(s)) return iso;
  const std::vector<std::string_view> w = words(s);
  if (w.size() < 2 || w.size() > 3) return std::nullopt;
  std::size_t at = 0;
  const auto mo = digits_at(w[0], at, 1, 2);
  if (!mo || at >= w[0].size() || w[0][at++] != '/') return std::nullopt;
  const auto d = digits_at(w[0], at, 1, 2);
  if (!d || at >= w[0].size() || w[0][at++] != '/') return std::nullopt;
  const auto y = digits_at(w[0], at, 4, 4);
  int h = 0;
  int mi = 0;
  int se = 0;
  const std::optional<std::string_view> meridiem =
      w.size() == 3 ? std::optional<std::string_view>(w[2]) : std::nullopt;
  if (!y || at != w[0].size() || !clock_time(w[1], meridiem, h, mi, se)) return std::nullopt;
  return civil_epoch(*y, *mo, *d, h, mi, se);
}

// The traffic type a medium stands for (the session group needs one).
std::string_view traffic_type(std::string_view medium, bool campaign) {
  const std::string m = lower(medium);
  if (m == "cpc" || m == "ppc" || m == "paid" || m == "paidsearch" || m == "paid search" ||
      m == "display" || m == "cpm" || m == "paid_social" || m == "paid social" || m == "email") {
    return "Campaign";
  }
  if (m == "organic") return "Organic";
  if (m == "referral") return "Referral";
  if (m == "direct" || m == "(none)" || m == "none") return "Direct";
  return campaign ? "Campaign" : "Unattributed";
}

// ---- translating ----------------------------------------------------------------------------

class Translator {
 public:
  Translator(const SenderSettings& settings, const FieldList& fields, std::int64_t now,
             Translation& out)
      : settings_(settings), fields_(fields), now_(now), out_(out) {}

  void run(std::string_view path_event) {
    switch (settings_.sender) {
      case SenderFormat::twilio:
        twilio();
        break;
      case SenderFormat::callrail:
        callrail(path_event);
        break;
      case SenderFormat::ctm:
        ctm(path_event);
        break;
      case SenderFormat::ringba:
        ringba();
        break;
      case SenderFormat::voice_webhooks:
        return;
    }
    if (!event_) return;  // an unknown event was reported; nothing else can be read
    out_.event = event_;
    fill_defaults();
    emit();
  }

 private:
  struct Value {
    std::string value;
    std::string origin;
    bool set = false;
  };

  // The value of the sender's field, as decoded (Ringba: the role's parameter).
  std::optional<std::string_view> get(std::string_view name) const {
    return fields_.find(param(name));
  }
  std::string_view param(std::string_view role) const {
    if (settings_.sender != SenderFormat::ringba) return role;
    for (const auto& [r, p] : settings_.fields) {
      if (r == role) return p;
    }
    return role;
  }
  // A field that is sent and not empty.
  std::optional<std::string_view> given(std::string_view name) const {
    const auto v = get(name);
    if (!v || v->empty()) return std::nullopt;
    return v;
  }

  void error(std::string_view field, std::string_view code, std::string message) {
    out_.errors.push_back({std::string(param(field)), std::string(code), std::move(message)});
  }
  void warning(std::string_view field, std::string_view code, std::string message) {
    out_.warnings.push_back({std::string(param(field)), std::string(code), std::move(message)});
  }
  void policy(std::string_view field, std::string_view code, std::string message) {
    if (settings_.mode == Mode::strict) {
      error(field, code, std::move(message));
    } else {
      warning(field, code, std::move(message));
    }
  }
  std::string who() const {
    switch (settings_.sender) {
      case SenderFormat::twilio:
        return "Twilio";
      case SenderFormat::callrail:
        return "CallRail";
      case SenderFormat::ctm:
        return "CallTrackingMetrics";
      case SenderFormat::ringba:
        return "Ringba";
      case SenderFormat::voice_webhooks:
        break;
    }
    return "Voice Webhooks";
  }

  void set(std::string_view target, std::string value, std::string_view origin) {
    const auto row = find_spec_field(target);
    if (!row) return;
    Value& v = values_[*row];
    if (v.set) return;
    v.value = std::move(value);
    v.origin = std::string(param(origin));
    v.set = true;
  }
  bool has(std::string_view target) const {
    const auto row = find_spec_field(target);
    return row && values_[*row].set;
  }
  // Copies the first of `names` that is sent (empty or not) to `target`.
  void copy(std::string_view target, std::initializer_list<std::string_view> names,
            bool skip_empty = true) {
    for (const std::string_view name : names) {
      const auto v = skip_empty ? given(name) : get(name);
      if (v) {
        set(target, std::string(*v), name);
        return;
      }
    }
  }
  void require(std::string_view name) {
    if (!get(name)) {
      error(name, "missing",
            std::string(param(name)) + " is required on " + who() + "'s " +
                std::string(to_string(*event_)) + " webhooks but was not sent.");
    }
  }

  void caller(std::string_view name, bool twilio) {
    const auto v = get(name);
    if (!v) return require(name);
    std::string number = phone_number(*v);
    if (anonymous_word(*v) || (twilio && twilio_withheld(number))) {
      set("Call.From", "anonymous", name);
      return;
    }
    if (number.starts_with("client:") || number.starts_with("sip:")) {
      warning(name, "caller_not_a_number",
              "The caller is a " + number.substr(0, number.find(':')) +
                  " address, not a phone number; the call counts as anonymous.");
      set("Call.From", "anonymous", name);
      return;
    }
    set("Call.From", std::move(number), name);
  }
  std::int64_t duration_of(std::string_view name, std::string_view target) {
    const auto v = given(name);
    if (!v) return 0;
    const auto n = parse_number(*v);
    if (!n) {
      error(name, "not_integer",
            std::string(param(name)) + " must be a whole number of seconds, not '" +
                std::string(detail::utf8_prefix(*v, 40)) + "'.");
      return 0;
    }
    if (!target.empty()) set(target, std::to_string(*n), name);
    return *n;
  }
  void start_date(std::optional<std::int64_t> epoch, std::string_view origin) {
    if (epoch) set("Call.StartDate", detail::format_spec_datetime(*epoch), origin);
  }
  void bad_time(std::string_view name, std::string_view expected) {
    const auto v = get(name);
    error(name, "bad_datetime",
          std::string(param(name)) + " must be " + std::string(expected) + ", not '" +
              std::string(detail::utf8_prefix(v.value_or(""), 60)) + "'.");
  }
  // The session group, sent when the landing page is known.
  void session(std::string_view landing, std::initializer_list<std::string_view> conversion,
               std::initializer_list<std::string_view> keywords) {
    const auto l = given(landing);
    if (!l) return;
    set("Session.LandingUri", std::string(*l), landing);
    copy("Session.ConversionUri", conversion);
    set("Session.ConversionUri", std::string(*l), landing);
    copy("Session.Keywords", keywords);
    const auto row = find_spec_field("Attribution.Medium");
    const auto crow = find_spec_field("Attribution.Campaign");
    const std::string medium = values_[*row].value;
    const bool campaign = !values_[*crow].value.empty();
    set("Session.Traffic.Type", std::string(traffic_type(medium, campaign)), values_[*row].origin);
  }

  // The table's plain rows: copied (the first of the rows filling a parameter that is sent
  // wins, in the table's order), and required ones checked. The sender's code does the rest.
  void apply(std::span<const SenderField> table) {
    for (const SenderField& f : table) {
      if (f.read == Read::custom) continue;
      const Presence presence = *event_ == EventType::initiate ? f.initiate : f.complete;
      const auto v = get(f.name);
      if (!v) {
        if (presence == Presence::required) require(f.name);
        continue;
      }
      if (v->empty() && f.read != Read::copy_empty) continue;
      set(f.target, f.read == Read::phone ? phone_number(*v) : std::string(*v), f.name);
    }
    // The attribution group is sent whole or not at all, as the spec asks.
    const std::array<std::string_view, 4> group{"Attribution.Source", "Attribution.Medium",
                                                "Attribution.Campaign", "Attribution.Content"};
    if (std::any_of(group.begin(), group.end(), [&](auto t) { return has(t); })) {
      for (const auto t : group) set(t, "", "");
    }
  }

  // Every field is known to the table, or kept; strict mode refuses a field a closed table
  // (Twilio's, Ringba's map) does not list.
  void keep_the_rest(std::span<const SenderField> table) {
    const bool open =
        std::any_of(table.begin(), table.end(), [](const SenderField& f) { return f.name == "*"; });
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      const std::string_view name = fields_.name(i);
      if (first_index(name) != i) continue;  // the first of each name
      bool mapped = false;
      bool listed = false;
      for (const SenderField& f : table) {
        if (f.name != "*" && param(f.name) == name) {
          listed = true;
          mapped = !f.target.empty();
          break;
        }
      }
      if (mapped) continue;
      if (!listed && !open) {
        policy(name, "unknown_field",
               "'" + std::string(detail::utf8_prefix(name, 60)) + "' is not a field of " + who() +
                   "'s webhooks" +
                   (settings_.mode == Mode::strict ? "." : "; it is kept under \"extra\"."));
        if (settings_.mode == Mode::strict) continue;
      }
      out_.extra.add(name, fields_.value(i));
    }
  }
  std::size_t first_index(std::string_view name) const {
    for (std::size_t j = 0; j < fields_.size(); ++j) {
      if (fields_.name(j) == name) return j;
    }
    return fields_.size();
  }

  void twilio() {
    const auto status = get("CallStatus");
    if (!status) {
      error("CallStatus", "missing", "CallStatus is required: it says which event this is.");
      return;
    }
    const std::string s = lower(*status);
    std::string disposition;
    if (s == "queued" || s == "initiated" || s == "ringing" || s == "in-progress") {
      event_ = EventType::initiate;
    } else if (s == "completed" || s == "busy" || s == "no-answer" || s == "failed" ||
               s == "canceled") {
      event_ = EventType::complete;
      disposition = s == "completed" ? "ANSWERED"
                    : s == "busy"    ? "BUSY"
                    : s == "failed"  ? "FAILED"
                                     : "NO ANSWER";
    } else {
      error("CallStatus", "unknown_event",
            "CallStatus '" + std::string(detail::utf8_prefix(*status, 40)) +
                "' is not one of Twilio's call statuses (queued, initiated, ringing, "
                "in-progress, completed, busy, no-answer, failed, canceled).");
      return;
    }
    apply(kTwilio);
    caller("From", true);
    std::int64_t duration = 0;
    if (*event_ == EventType::complete) {
      duration = duration_of("CallDuration", "Call.Duration");
      set("Call.Duration", "0", "CallDuration");
      set("Call.Disposition", disposition, "CallStatus");
    }
    if (const auto t = given("Timestamp")) {
      const auto epoch = parse_rfc2822(*t);
      if (!epoch)
        return bad_time("Timestamp", "an RFC 2822 date (Tue, 14 Jan 2025 17:03:05 +0000)");
      start_date(*epoch - duration, "Timestamp");
    } else {
      start_date(now_ - duration, "");
    }
    keep_the_rest(kTwilio);
  }

  void callrail(std::string_view path_event) {
    if (const auto e = path_event_of(path_event)) {
      event_ = *e;
    } else {
      const auto type = get("call_type");
      event_ = type && *type == "in_progress" ? EventType::initiate : EventType::complete;
    }
    if (!given("resource_id") && !given("id")) {
      error("resource_id", "missing",
            "resource_id (or id) is required: it is the call's id, and neither was sent.");
    }
    apply(kCallRail);
    if (const auto t = get("start_time")) {
      const auto epoch = parse_iso8601(*t);
      if (!epoch)
        return bad_time("start_time", "ISO 8601 with an offset (2025-01-14T09:01:30-08:00)");
      start_date(epoch, "start_time");
    } else {
      require("start_time");
    }
    caller("customer_phone_number", false);
    if (*event_ == EventType::complete) {
      duration_of("duration", "Call.Duration");
      set("Call.Duration", "0", "duration");
      const auto answered = get("answered");
      set("Call.Disposition", answered && lower(*answered) == "true" ? "ANSWERED" : "NO ANSWER",
          "answered");
    }
    session("landing_page_url", {"last_requested_url"}, {"keywords", "utm_term"});
    if (const auto ga = given("ga")) {
      std::string_view id = *ga;
      // _ga cookies are GA1.<n>.<client id>
      if (id.starts_with("GA1.") || id.starts_with("GA2.")) {
        const std::size_t dot = id.find('.', 4);
        if (dot != std::string_view::npos) id = id.substr(dot + 1);
      }
      set("Google.Analytics.ClientId", std::string(id), "ga");
    }
    keep_the_rest(kCallRail);
  }

  void ctm(std::string_view path_event) {
    if (const auto e = path_event_of(path_event)) {
      event_ = *e;
    } else {
      const auto status = lower(get("dial_status").value_or(""));
      const auto talk = parse_number(get("talk_time").value_or("")).value_or(0);
      const auto total = parse_number(get("duration").value_or("")).value_or(0);
      const bool ongoing = status == "in progress" || status == "in-progress" ||
                           status == "ringing" || status == "initiated";
      event_ = !ongoing && (!status.empty() || talk > 0 || total > 0) ? EventType::complete
                                                                      : EventType::initiate;
    }
    apply(kCtm);
    if (const auto u = given("unix_time")) {
      const auto n = detail::all_digits(*u) ? detail::parse_int64(*u) : std::nullopt;
      if (!n) return bad_time("unix_time", "whole seconds since 1970");
      start_date(n, "unix_time");
    } else if (const auto c = given("called_at")) {
      const auto epoch = parse_ctm_called_at(*c);
      if (!epoch) return bad_time("called_at", "yyyy-MM-dd hh:mm AM -hh:mm");
      start_date(epoch, "called_at");
    } else {
      error("unix_time", "missing",
            "unix_time (or called_at) is required: it is when the call started, and neither was "
            "sent.");
    }
    caller("caller_number", false);
    if (*event_ == EventType::complete) {
      duration_of("duration", "Call.Duration");
      set("Call.Duration", "0", "duration");
      const std::string status = lower(get("dial_status").value_or(""));
      const auto talk = parse_number(get("talk_time").value_or(""));
      std::string disposition = "NO ANSWER";
      if ((status == "completed" || status == "answered") && (!talk || *talk > 0)) {
        disposition = "ANSWERED";
      } else if (status == "busy") {
        disposition = "BUSY";
      } else if (status == "failed") {
        disposition = "FAILED";
      }
      set("Call.Disposition", disposition, "dial_status");
    }
    session("location", {}, {"search", "keyword"});
    keep_the_rest(kCtm);
  }

  void ringba() {
    const auto e = get("event");
    if (!e || e->empty()) {
      error("event", "unknown_event",
            std::string(param("event")) +
                " is required: put the pixel's event (incoming, completed, finalized, ...) in "
                "its URL, as Ringba sends one pixel per event.");
      return;
    }
    const std::string s = lower(*e);
    bool finalized = false;
    std::string disposition = "ANSWERED";
    if (s == "incoming" || s == "connected") {
      event_ = EventType::initiate;
    } else if (s == "completed" || s == "converted" || s == "payout" || s == "recording") {
      event_ = EventType::complete;
    } else if (s == "finalized") {
      event_ = EventType::complete;
      finalized = true;
    } else if (s == "error") {
      event_ = EventType::complete;
      disposition = "FAILED";
    } else {
      error("event", "unknown_event",
            "'" + std::string(detail::utf8_prefix(*e, 40)) +
                "' is not a Ringba pixel event (incoming, connected, completed, finalized, "
                "error, converted, payout, recording).");
      return;
    }
    apply(kRingba);
    caller("caller", false);
    std::int64_t duration = 0;
    if (*event_ == EventType::complete) {
      duration = duration_of("duration", "Call.Duration");
      set("Call.Duration", "0", "duration");
      if (finalized && duration == 0) disposition = "NO ANSWER";
      set("Call.Disposition", disposition, "event");
    }
    if (const auto t = given("start")) {
      const auto epoch = parse_ringba_time(*t);
      if (!epoch) {
        return bad_time("start", "epoch seconds, ISO 8601 or MM/DD/YYYY hh:mm:ss AM");
      }
      start_date(epoch, "start");
    } else {
      start_date(now_ - duration, "");
    }
    session("landing_page", {}, {});
    keep_the_rest(kRingba);
  }

  std::optional<EventType> path_event_of(std::string_view segment) const {
    for (const auto& [word, event] : sender_path_events(settings_.sender)) {
      if (segment == word) return event;
    }
    return std::nullopt;
  }

  // The parameters the sender cannot send: the source's defaults, then the format's own.
  void fill_defaults() {
    for (const auto& [name, value] : settings_.defaults) set(name, value, "");
    set("Action", "Webhook", "");
    set("Event", std::string(to_string(*event_)), "");
    if (settings_.sender == SenderFormat::ringba) set("Account.Sid", settings_.source, "");
    set("Property.Sid", settings_.source, "");
    set("Property.Name", settings_.source, "");
    set("Property.Type", "Site", "");
    if (*event_ == EventType::complete) set("Call.To.Type", "Static", "");
    set("Call.To.Name", "", "");
    // Fields the spec does not allow on Call.Initiate stay out of it.
    if (*event_ == EventType::initiate) {
      for (std::size_t row = 0; row < spec_fields().size(); ++row) {
        if (spec_fields()[row].initiate == Presence::not_allowed) values_[row].set = false;
      }
    }
    if (!has("Account.Sid")) {
      error(settings_.sender == SenderFormat::callrail ? "company_resource_id" : "account_id",
            "missing",
            "The webhook names no account; set sources." + settings_.source +
                ".defaults[\"Account.Sid\"] in the config.");
    }
    if (!has("Call.To") && settings_.sender == SenderFormat::ringba) {
      error("tracking_number", "missing",
            "Ringba sends no tracking number: add it to the pixel's URL as " +
                std::string(param("tracking_number")) + "=+1..., or set sources." +
                settings_.source + ".defaults[\"Call.To\"] in the config.");
    }
  }

  void emit() {
    const auto rows = spec_fields();
    for (std::size_t row = 0; row < rows.size(); ++row) {
      if (!values_[row].set) continue;
      out_.spec.add(rows[row].name, values_[row].value);
      out_.origin.push_back(values_[row].origin);
    }
  }

  const SenderSettings& settings_;
  const FieldList& fields_;
  std::int64_t now_;
  Translation& out_;
  std::optional<EventType> event_;
  std::array<Value, kMaxSpecFields> values_{};
};

}  // namespace

std::string_view to_string(SenderFormat sender) {
  switch (sender) {
    case SenderFormat::twilio:
      return "twilio";
    case SenderFormat::callrail:
      return "callrail";
    case SenderFormat::ctm:
      return "ctm";
    case SenderFormat::ringba:
      return "ringba";
    case SenderFormat::voice_webhooks:
      break;
  }
  return "voice-webhooks";
}

std::optional<SenderFormat> parse_sender_format(std::string_view name) {
  for (const SenderFormat s : kSenders) {
    if (to_string(s) == name) return s;
  }
  return std::nullopt;
}

std::span<const SenderFormat> sender_formats() {
  return kSenders;
}

std::string_view sender_revision(SenderFormat sender) {
  switch (sender) {
    case SenderFormat::twilio:
      return "Twilio Voice status callbacks, API 2010-04-01 (the StatusCallbackEvent values and "
             "the request parameters of Twilio's TwiML request page)";
    case SenderFormat::callrail:
      return "CallRail API v3 webhooks (pre-call, call routing complete, post-call, call "
             "modified) and its Webhooks security section";
    case SenderFormat::ctm:
      return "CallTrackingMetrics Webhooks API integration (start and end of activity), the call "
             "object of CTM's official API clients";
    case SenderFormat::ringba:
      return "Ringba tracking pixels (Fire Pixel On events and Most Common Tokens)";
    case SenderFormat::voice_webhooks:
      break;
  }
  return "the Voice Webhooks specification";
}

std::span<const SenderField> sender_fields(SenderFormat sender) {
  switch (sender) {
    case SenderFormat::twilio:
      return kTwilio;
    case SenderFormat::callrail:
      return kCallRail;
    case SenderFormat::ctm:
      return kCtm;
    case SenderFormat::ringba:
      return kRingba;
    case SenderFormat::voice_webhooks:
      break;
  }
  return {};
}

std::span<const std::pair<std::string_view, EventType>> sender_path_events(SenderFormat sender) {
  switch (sender) {
    case SenderFormat::callrail:
      return kCallRailPathEvents;
    case SenderFormat::ctm:
      return kCtmPathEvents;
    case SenderFormat::twilio:
    case SenderFormat::ringba:
      return kGenericPathEvents;
    case SenderFormat::voice_webhooks:
      break;
  }
  return {};
}

std::string sender_fields_markdown(SenderFormat sender) {
  std::string out =
      "| Field | Type | Call.Initiate | Call.Complete | Parameter | Rule |\n"
      "|---|---|---|---|---|---|\n";
  const auto presence = [](Presence p) -> std::string_view {
    return p == Presence::required ? "required" : p == Presence::optional ? "optional" : "-";
  };
  for (const SenderField& f : sender_fields(sender)) {
    out.append("| `").append(f.name).append("` | ").append(f.type).append(" | ");
    out.append(presence(f.initiate)).append(" | ").append(presence(f.complete)).append(" | ");
    if (f.target.empty()) {
      out.append("`extra`");
    } else {
      out.append("`").append(f.target).append("`");
    }
    out.append(" | ").append(f.rule).append(" |\n");
  }
  return out;
}

void translate(const SenderSettings& settings, const FieldList& fields, std::string_view path_event,
               std::int64_t now, Translation& out) {
  out.spec.clear();
  out.origin.clear();
  out.extra.clear();
  out.errors.clear();
  out.warnings.clear();
  out.event.reset();
  if (fields.empty()) {
    out.errors.push_back({"", "empty_payload", "The webhook carried no fields at all."});
    return;
  }
  Translator(settings, fields, now, out).run(path_event);
}

void attribute_to_sender(const SenderSettings& settings, const Translation& translation,
                         Report& report) {
  const auto rename = [&](std::vector<Diagnostic>& list) {
    for (Diagnostic& d : list) {
      if (!translation.spec.find(d.field)) {
        // Not sent at all: name the sender's field that would have filled it.
        for (const SenderField& f : sender_fields(settings.sender)) {
          if (f.target != d.field) continue;
          d.message += " (" + std::string(f.name) + " was not sent)";
          d.field = std::string(f.name);
          break;
        }
        continue;
      }
      for (std::size_t i = 0; i < translation.spec.size(); ++i) {
        if (translation.spec.name(i) != d.field) continue;
        const std::string& origin = translation.origin[i];
        if (origin.empty()) {
          d.message += " (given by the config or by the " +
                       std::string(to_string(settings.sender)) + " format's defaults)";
        } else {
          d.message += " (read from " + origin + ")";
          d.field = origin;
        }
        break;
      }
    }
  };
  rename(report.errors);
  rename(report.warnings);
}

}  // namespace callhook
