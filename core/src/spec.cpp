#include "callhook/spec.h"

#include <array>
#include <bit>
#include <string>
#include <type_traits>

#include "swar.h"
#include "value_formats.h"

namespace callhook {
namespace {

using enum FieldType;
using enum Presence;

constexpr std::array<std::string_view, 1> kActions{"Webhook"};
constexpr std::array<std::string_view, 2> kEvents{"Call.Initiate", "Call.Complete"};
constexpr std::array<std::string_view, 1> kPropertyTypes{"Site"};
constexpr std::array<std::string_view, 2> kNumberTypes{"Static", "Dynamic"};
constexpr std::array<std::string_view, 5> kDispositions{"ANSWERED", "NO ANSWER", "BUSY", "IVR",
                                                        "FAILED"};
constexpr std::array<std::string_view, 5> kTrafficTypes{"Campaign", "Direct", "Organic", "Referral",
                                                        "Unattributed"};

constexpr std::span<const std::string_view> kNone{};

// The spec, row by row, in the order of the canonical event (rows sharing a canonical parent
// are adjacent, which is what lets normalize emit nested JSON in one pass).
// clang-format off
constexpr std::array kFields{
  //        name                        type                 Initiate      Complete      empty  null   policy group
  FieldSpec{"Action",                   enumeration,         required,     required,     false, false, false, Group::common, kActions, "", "Value will be: Webhook."},
  FieldSpec{"Event",                    enumeration,         required,     required,     false, false, false, Group::common, kEvents, "event", "The name of the event."},
  FieldSpec{"Account.Sid",              identifier,          required,     required,     false, false, false, Group::common, kNone, "account.sid", "The secure identifier of the account."},
  FieldSpec{"Property.Sid",             text,                required,     required,     false, false, false, Group::common, kNone, "property.sid", "The secure identifier of the property."},
  FieldSpec{"Property.Name",            text,                required,     required,     false, false, false, Group::common, kNone, "property.name", "The name of the property (the domain name for websites)."},
  FieldSpec{"Property.Type",            enumeration,         required,     required,     false, false, true, Group::common, kPropertyTypes, "property.type", "The type of property; currently only Site."},
  FieldSpec{"Call.Sid",                 identifier,          required,     required,     false, false, false, Group::call, kNone, "call.sid", "The secure identifier of the call."},
  FieldSpec{"Call.StartDate",           datetime,            required,     required,     false, false, false, Group::call, kNone, "call.start_date", "When the call started, UTC, yyyy-MM-dd HH:mm:ss."},
  FieldSpec{"Call.From",                e164_or_anonymous,   required,     required,     false, false, false, Group::call, kNone, "call.from.number", "The caller ID in E.164, or anonymous."},
  FieldSpec{"Call.From.Country",        text,                optional,     optional,     true,  true,  false, Group::call, kNone, "call.from.country", "Country the call came from; blank if unknown."},
  FieldSpec{"Call.From.Region",         text,                optional,     optional,     true,  true,  false, Group::call, kNone, "call.from.region", "Region or state the call came from; blank if unknown."},
  FieldSpec{"Call.From.City",           text,                optional,     optional,     true,  true,  false, Group::call, kNone, "call.from.city", "City the call came from; blank if unknown."},
  FieldSpec{"Call.To",                  e164,                required,     required,     false, false, false, Group::call, kNone, "call.to.number", "The number dialled, in E.164."},
  FieldSpec{"Call.To.Type",             enumeration,         not_allowed,  required,     false, false, false, Group::call, kNumberTypes, "call.to.type", "Static or Dynamic number."},
  FieldSpec{"Call.To.Name",             text,                required,     required,     true,  false, false, Group::call, kNone, "call.to.name", "The name of the number in the account."},
  FieldSpec{"Call.Duration",            non_negative_integer, not_allowed, required,     false, false, false, Group::call, kNone, "call.duration", "Duration of the call in seconds."},
  FieldSpec{"Call.Disposition",         enumeration,         not_allowed,  required,     false, false, false, Group::call, kDispositions, "call.disposition", "The outcome of the call."},
  FieldSpec{"Call.Recording.Uri",       http_uri,            not_allowed,  optional,     true,  false, false, Group::call, kNone, "call.recording_uri", "The URI of the call recording."},
  FieldSpec{"Call.Endpoint",            e164,                optional,     optional,     true,  false, false, Group::call, kNone, "call.endpoint", "The number the call was transferred to, in E.164."},
  FieldSpec{"Call.Survey.Type",         text,                not_allowed,  optional,     true,  false, false, Group::call, kNone, "call.survey.type", "The call type chosen in the agent survey."},
  FieldSpec{"Call.Survey.Value",        integer,             not_allowed,  optional,     true,  false, false, Group::call, kNone, "call.survey.value", "The value entered in the agent survey."},
  FieldSpec{"Call.Survey.Custom1",      text,                not_allowed,  optional,     true,  false, false, Group::call, kNone, "call.survey.custom1", "Agent survey custom field 1."},
  FieldSpec{"Call.Survey.Custom2",      text,                not_allowed,  optional,     true,  false, false, Group::call, kNone, "call.survey.custom2", "Agent survey custom field 2."},
  FieldSpec{"Call.Survey.Custom3",      text,                not_allowed,  optional,     true,  false, false, Group::call, kNone, "call.survey.custom3", "Agent survey custom field 3."},
  FieldSpec{"Call.Survey.UniqueCode",   text,                not_allowed,  optional,     true,  false, false, Group::call, kNone, "call.survey.unique_code", "The unique code played in the agent survey."},
  FieldSpec{"Call.Prompts.Postcode",    comma_list,          not_allowed,  optional,     true,  false, false, Group::call, kNone, "call.prompts.postcode", "Postcodes entered during the call."},
  FieldSpec{"Call.Prompts.Keys",        comma_list,          not_allowed,  optional,     true,  false, false, Group::call, kNone, "call.prompts.keys", "Keys entered during the call, postcodes included."},
  FieldSpec{"Attribution.Source",       text,                required,     required,     true,  false, false, Group::attribution, kNone, "attribution.source", "The source attribution, e.g. bing."},
  FieldSpec{"Attribution.Medium",       text,                required,     required,     true,  false, false, Group::attribution, kNone, "attribution.medium", "The medium attribution, e.g. organic."},
  FieldSpec{"Attribution.Campaign",     text,                required,     required,     true,  false, false, Group::attribution, kNone, "attribution.campaign", "The campaign attribution."},
  FieldSpec{"Attribution.Content",      text,                required,     required,     true,  false, false, Group::attribution, kNone, "attribution.content", "The content attribution."},
  FieldSpec{"Session.Traffic.Type",     enumeration,         required,     required,     false, false, false, Group::session, kTrafficTypes, "session.traffic_type", "Campaign, Direct, Organic, Referral or Unattributed."},
  FieldSpec{"Session.Keywords",         text,                optional,     optional,     true,  false, false, Group::session, kNone, "session.keywords", "The search keywords."},
  FieldSpec{"Session.ConversionUri",    http_uri,            required,     required,     false, false, false, Group::session, kNone, "session.conversion_uri", "The page where the call was made from."},
  FieldSpec{"Session.LandingUri",       http_uri,            required,     required,     false, false, false, Group::session, kNone, "session.landing_uri", "The landing page of the session."},
  FieldSpec{"Google.Analytics.ClientId", text,               optional,     optional,     true,  false, false, Group::integration, kNone, "google.analytics_client_id", "The Google Analytics client ID."},
  FieldSpec{"Google.AdWords.ClickId",   text,                optional,     optional,     true,  false, false, Group::integration, kNone, "google.ads_click_id", "The Google Ads click ID (GCLID)."},
};
// clang-format on

constexpr std::size_t kCustomDimensionAnchor = 34;  // Session.LandingUri
static_assert(kFields[kCustomDimensionAnchor].name == "Session.LandingUri");

// Name lookup runs for every field of every payload, so it is an open-addressing hash table
// built at compile time, hashed on the length and the last eight bytes (where the names differ).
constexpr std::size_t kSlots = 128;
constexpr std::uint8_t kEmpty = 0xFF;

constexpr std::size_t name_hash(std::string_view name) {
  std::uint64_t tail = 0;
  if (!std::is_constant_evaluated() && name.size() >= 8) {
    // The same value as the loop below (the last eight bytes, the first of them highest), in
    // one load.
    tail = detail::load8(name.data() + name.size() - 8);
    if constexpr (std::endian::native == std::endian::little) tail = __builtin_bswap64(tail);
  } else {
    const std::size_t from = name.size() > 8 ? name.size() - 8 : 0;
    for (std::size_t i = from; i < name.size(); ++i) {
      tail = (tail << 8) | static_cast<unsigned char>(name[i]);
    }
  }
  return static_cast<std::size_t>(((tail ^ name.size()) * 0x9E3779B97F4A7C15ULL) >> 57);
}

constexpr auto kTable = [] {
  std::array<std::uint8_t, kSlots> table{};
  table.fill(kEmpty);
  for (std::size_t row = 0; row < kFields.size(); ++row) {
    std::size_t slot = name_hash(kFields[row].name);
    while (table[slot] != kEmpty) slot = (slot + 1) % kSlots;
    table[slot] = static_cast<std::uint8_t>(row);
  }
  return table;
}();
static_assert(kFields.size() < kSlots / 2, "keep the table sparse");

}  // namespace

std::string_view to_string(EventType event) {
  return event == EventType::initiate ? "Call.Initiate" : "Call.Complete";
}

std::optional<EventType> parse_event(std::string_view name) {
  if (name == "Call.Initiate") return EventType::initiate;
  if (name == "Call.Complete") return EventType::complete;
  return std::nullopt;
}

std::string_view to_string(FieldType type) {
  switch (type) {
    case text:
      return "string";
    case identifier:
      return "identifier (visible ASCII)";
    case integer:
      return "integer";
    case non_negative_integer:
      return "non-negative integer";
    case datetime:
      return "date-time";
    case e164:
      return "E.164 number";
    case e164_or_anonymous:
      return "E.164 number or anonymous";
    case http_uri:
      return "http(s) URI";
    case enumeration:
      return "enumeration";
    case comma_list:
      return "comma-separated list";
  }
  return "string";
}

std::string_view to_string(Group group) {
  switch (group) {
    case Group::common:
      return "common";
    case Group::call:
      return "call";
    case Group::attribution:
      return "attribution";
    case Group::session:
      return "session";
    case Group::integration:
      return "integration";
  }
  return "common";
}

std::span<const FieldSpec> spec_fields() {
  return kFields;
}

std::size_t custom_dimension_anchor() {
  return kCustomDimensionAnchor;
}

std::optional<std::size_t> find_spec_field(std::string_view name) {
  for (std::size_t slot = name_hash(name);; slot = (slot + 1) % kSlots) {
    const std::uint8_t row = kTable[slot];
    if (row == kEmpty) return std::nullopt;
    if (kFields[row].name == name) return row;
  }
}

std::optional<std::string_view> custom_dimension_number(std::string_view name) {
  if (!name.starts_with(kCustomDimensionPrefix)) return std::nullopt;
  const std::string_view number = name.substr(kCustomDimensionPrefix.size());
  if (number.empty() || number.front() == '0') return std::nullopt;
  for (const char c : number) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return number;
}

Presence presence_on(const FieldSpec& spec, EventType event) {
  return event == EventType::initiate ? spec.initiate : spec.complete;
}

std::optional<std::int64_t> utc_datetime_to_epoch(std::string_view text) {
  if (text.size() == 20 && text[10] == 'T' && text[19] == 'Z') {
    std::string spec(text.substr(0, 19));
    spec[10] = ' ';
    return detail::parse_spec_datetime(spec);
  }
  return detail::parse_spec_datetime(text);
}

}  // namespace callhook
