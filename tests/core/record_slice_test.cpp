// Records read by slicing (parse_record's fast path): a text is sliced only when it is exactly
// write_record's text of the record sliced from it, whatever bytes it holds.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "callhook/correlate.h"
#include "correlation_view.h"

namespace callhook {
namespace {

using nlohmann::ordered_json;

std::string random_event(std::mt19937& random) {
  static const std::vector<ordered_json> leaves = {"CA1",
                                                   "café 📞",
                                                   "quote \" and backslash \\",
                                                   "tab\tnew\nline",
                                                   std::string("\x01\x1f"),
                                                   42,
                                                   -7,
                                                   0,
                                                   123456789012345678,
                                                   1.5,
                                                   true,
                                                   false,
                                                   nullptr,
                                                   ordered_json::array({"1", 2}),
                                                   ordered_json::object()};
  ordered_json event = {{"event", random() % 2 ? "Call.Initiate" : "Call.Complete"}};
  for (int k = 0; k < 6; ++k) {
    ordered_json& group = event[std::string("g") + std::to_string(random() % 3)];
    if (!group.is_object()) group = ordered_json::object();
    group[std::string("k") + std::to_string(random() % 4)] = leaves[random() % leaves.size()];
  }
  return event.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

CallRecord random_record(std::mt19937& random) {
  static const std::vector<std::string> keys = {"AC1:CA1", "src:AC1:CA2", "AC é:CA\"3", ""};
  CallRecord r;
  r.key = keys[random() % keys.size()];
  r.version = static_cast<std::int64_t>(random() % 1000);
  if (random() % 3 != 0) r.initiate = SeenEvent{1714533342, random_event(random)};
  if (random() % 2 != 0) r.complete = SeenEvent{-5, random_event(random)};
  r.duplicates = static_cast<std::int64_t>(random() % 3);
  r.abandoned = random() % 4 == 0;
  r.expires_at = 1714533342 + static_cast<std::int64_t>(random() % 100000);
  if (random() % 2 != 0) r.sweep_at = 1714533400;
  return r;
}

TEST(RecordSlice, ReadsWhatWriteRecordWrote) {
  std::mt19937 random(4242);
  int sliced = 0;
  for (int n = 0; n < 2000; ++n) {
    const CallRecord r = random_record(random);
    const std::string text = write_record(r);
    std::string problem;
    const auto read = parse_record(text, problem);
    ASSERT_TRUE(read) << text << ": " << problem;
    EXPECT_EQ(write_record(*read), text);
    if (const auto fast = detail::slice_record_text(text)) {
      ++sliced;
      EXPECT_EQ(write_record(*fast), text);
    } else {
      // Only a key that needs escaping, or an event with a fraction, is left to the DOM.
      EXPECT_TRUE(r.key.find('"') != std::string::npos || text.find("1.5") != std::string::npos)
          << text;
    }
  }
  EXPECT_GT(sliced, 500);
}

// Every text the slicer takes, mutated or not, is write_record's text of what it read: the
// guarantee that lets a record be read without a DOM and written back unchanged.
TEST(RecordSlice, SlicesOnlyTextsWriteRecordWouldWrite) {
  std::mt19937 random(99);
  const std::string bytes = "{}[]\",:\\0123456789-.eE tnulfrsa\x01\x7f\xc3\xa9\xff";
  int taken = 0;
  for (int n = 0; n < 20000; ++n) {
    std::string text = write_record(random_record(random));
    const int edits = static_cast<int>(random() % 3) + 1;
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = random() % text.size();
      switch (random() % 3) {
        case 0:
          text[at] = bytes[random() % bytes.size()];
          break;
        case 1:
          text.insert(at, 1, bytes[random() % bytes.size()]);
          break;
        default:
          text.erase(at, 1);
      }
    }
    if (const auto fast = detail::slice_record_text(text)) {
      ++taken;
      ASSERT_EQ(write_record(*fast), text);
      std::string problem;
      const auto read = parse_record(text, problem);
      ASSERT_TRUE(read);
      EXPECT_EQ(write_record(*read), text);
    }
  }
  EXPECT_GT(taken, 100);  // mutations inside strings and numbers still give records
}

}  // namespace
}  // namespace callhook
