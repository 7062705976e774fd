#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tether::testing {

/// A parsed JSON value (RFC 8259). Tests read what tether writes with this rather than by
/// searching text, so that a line that is not valid JSON fails the test.
struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  /// kString: the decoded text (UTF-8); kNumber: the number as written; kBool: "true" or
  /// "false"; kNull: "null".
  std::string text;
  std::vector<JsonValue> items;              ///< kArray
  std::map<std::string, JsonValue> members;  ///< kObject; a repeated key is a parse error

  bool IsString() const { return kind == Kind::kString; }
  bool IsNumber() const { return kind == Kind::kNumber; }
  /// The member `key` of an object, or nullptr (also when this is not an object).
  const JsonValue* Find(const std::string& key) const;
};

/// Parses `text` as exactly one JSON value, surrounded by whitespace at most. Strict: raw
/// control characters in strings, invalid UTF-8, lone surrogates, bad numbers, trailing
/// commas and repeated keys are errors. Returns nullopt with *error saying where.
std::optional<JsonValue> ParseJson(std::string_view text, std::string* error);

/// One line of a JSON-lines log: exactly one JSON object. Returns nullopt with *error
/// when the line is anything else.
std::optional<JsonValue> ParseJsonObjectLine(std::string_view line, std::string* error);

}  // namespace tether::testing
