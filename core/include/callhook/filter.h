// Event filters in Hookdeck's filter syntax, evaluated against JSON documents.
//
// A filter is a JSON value matched against a document:
//
// - A primitive (string, number, boolean, null) matches an equal primitive. Equality is loose in
//   one way only, as in Hookdeck: a number equals a string holding that number ("45" == 45),
//   because form-encoded fields always arrive as strings. Booleans and null equal only themselves.
//   Against an array document, a primitive matches when some element matches it.
// - An array filter matches an array document that contains, for every filter element, some
//   element matching it ("contains all"). It never matches a non-array document.
// - An object filter is a conjunction. Its field keys descend into an object document; against
//   an array document, some single element must satisfy all its field keys together. Its
//   $operators apply to the document value at that level, the whole of it (an array included).
//   The empty object matches any object document.
//
// Field keys: a key present literally in the document object is used as is. Otherwise, a key
// containing '.' is a dotted path: the longest dot-delimited prefix present literally is taken
// and the rest resolved below it, so {"Call.Disposition": ...} matches a flat form payload and
// {"call.disposition": ...} a nested one. A dotted key behaves like the equivalent nested filter
// (arrays on the way are searched element by element). Keys starting with '$' are operators, so
// document fields whose names start with '$' cannot be filtered on.
//
// Operators (v is the document value at that level, a the operator's argument):
//   $eq, $neq         deep equality (loose for primitives, as above) / its negation.
//   $gt $gte $lt $lte two numbers compare numerically, a number and a numeric string compare
//                     numerically, two strings compare lexically (bytewise); anything else,
//                     including a missing value, does not match. a must be a number or a string.
//   $in               a array: v is a primitive equal to one of a's elements ("one of").
//                     a string: v is a string containing a (substring), or an array containing
//                     an element equal to a. Other v: no match.
//   $nin              the negation of $in where $in applies; where it does not (v an object, say)
//                     $nin does not match either, as in Hookdeck.
//   $startsWith, $endsWith  v is a string with that prefix/suffix; a may also be an array of
//                     strings, any of which will do.
//   $exist            a true: the field is present (even if null); false: it is absent.
//   $or, $and         a non-empty array of filters, each applied to v: any / all must match.
//   $not              a an object: a filter applied to v; matches when that filter does not.
//                     a any other value (a primitive or an array): Hookdeck's "not equal to
//                     it", exactly $neq: a. Like $neq it compares v as a whole, so against an
//                     array v it holds unless the array equals a (use $nin, or $not of an
//                     object filter, for "does not contain").
//
// Uncomparable operands: an operator whose argument is of a type it cannot use ($gt [1,2,3],
// $in 5, $startsWith 3 or [3], $exist "yes") evaluates to false, as in Hookdeck, wherever v
// is (missing included: {"$nin": 5} is false too). Such a filter is valid; check_filter_warnings
// reports each of these operands.
//
// Missing fields: a field absent from the document matches only $exist:false, $neq, $nin and
// $not of something it fails, and $or/$and built from those. Absence propagates: below a missing
// field every field is missing, so {"a":{"b":{"$exist":false}}} matches {}.
//
// Not supported: Hookdeck's $ref (field references); check_filter reports it.
#pragma once

#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "callhook/fields.h"

namespace callhook {

/// How deep a filter may nest (each object or array level, and each extra segment of a dotted
/// key, counts one). Deeper filters are refused, and evaluation never recurses further.
inline constexpr int kMaxFilterDepth = 64;

/// Checks a filter's syntax: unknown or unsupported $operators, $or/$and that are not non-empty
/// arrays, and nesting deeper than kMaxFilterDepth. Returns every problem found (empty when the
/// filter is valid), each with code "bad_filter" and, in `field`, the JSON Pointer of the
/// offending value relative to the filter.
[[nodiscard]] std::vector<Diagnostic> check_filter(const nlohmann::json& filter);

/// The operands of a filter that make their operator false whatever the document (above,
/// "Uncomparable operands"): comparison operands that are not numbers or strings, $in/$nin
/// operands that are not arrays or strings, $startsWith/$endsWith operands that are not strings
/// (or arrays of strings), $exist that is not a boolean. Each has code "uncomparable_operand"
/// and, in `field`, the JSON Pointer of the operand relative to the filter.
[[nodiscard]] std::vector<Diagnostic> check_filter_warnings(const nlohmann::json& filter);

/// True when `document` satisfies `filter` (semantics above). Never aborts, whatever the inputs:
/// a filter that check_filter rejects matches nothing.
[[nodiscard]] bool filter_matches(const nlohmann::json& filter, const nlohmann::json& document);

namespace detail {

/// filter_matches for a filter check_filter accepted already (a route's `when`), against the
/// filter context of a request (the engine's): at the context's top, a field key starting with
/// A-Z is the request's parameter of that name (in the context's `fields` object), which the
/// context carries there instead of a second copy at its top; other keys, and keys below the
/// top, are looked up as filter_matches does.
[[nodiscard]] bool filter_context_matches(const nlohmann::json& checked_filter,
                                          const nlohmann::json& context);

/// Whether a key at the filter context's top names a request parameter, read from `fields`
/// (it starts with A-Z: "Call.Sid").
[[nodiscard]] inline bool is_field_key(std::string_view key) {
  return !key.empty() && key[0] >= 'A' && key[0] <= 'Z';
}

/// The member `key` of `object` (nullptr: none), with that rule when `object` is `context`.
[[nodiscard]] const nlohmann::json* context_member(const nlohmann::json& object,
                                                   std::string_view key,
                                                   const nlohmann::json* context);

}  // namespace detail

}  // namespace callhook
