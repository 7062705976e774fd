#include "support/json_reader.h"

#include <cstdint>

namespace tether::testing {
namespace {

constexpr int kMaxDepth = 64;

// Appends code point `cp` to *out as UTF-8.
void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// Length of the well-formed UTF-8 sequence at the start of `text`, or 0. Written apart from
// tether's own escaper on purpose: the test must not share the code it checks.
size_t Utf8Length(std::string_view text) {
  const auto b = [text](size_t i) { return static_cast<unsigned char>(text[i]); };
  if (b(0) < 0x80) return 1;
  uint32_t cp = 0;
  size_t length = 0;
  if ((b(0) & 0xe0) == 0xc0) {
    length = 2, cp = b(0) & 0x1f;
  } else if ((b(0) & 0xf0) == 0xe0) {
    length = 3, cp = b(0) & 0x0f;
  } else if ((b(0) & 0xf8) == 0xf0) {
    length = 4, cp = b(0) & 0x07;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((b(i) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i) & 0x3f);
  }
  static constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kSmallest[length] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return length;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  std::optional<JsonValue> ParseDocument(std::string* error) {
    JsonValue value;
    SkipSpace();
    if (ParseValue(&value, 0)) {
      SkipSpace();
      if (pos_ == text_.size()) return value;
      Fail("text after the value");
    }
    *error = error_ + " at offset " + std::to_string(pos_);
    return std::nullopt;
  }

 private:
  bool Fail(std::string what) {
    if (error_.empty()) error_ = std::move(what);
    return false;
  }
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }
  void SkipSpace() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' || Peek() == '\r')) {
      ++pos_;
    }
  }
  bool Consume(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool ParseValue(JsonValue* value, int depth) {
    if (depth > kMaxDepth) return Fail("nested too deeply");
    const char c = Peek();
    if (c == '{') return ParseObject(value, depth);
    if (c == '[') return ParseArray(value, depth);
    if (c == '"') {
      value->kind = JsonValue::Kind::kString;
      return ParseString(&value->text);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(value);
    for (const auto& [word, kind] :
         {std::pair{"true", JsonValue::Kind::kBool}, std::pair{"false", JsonValue::Kind::kBool},
          std::pair{"null", JsonValue::Kind::kNull}}) {
      if (Consume(word)) {
        value->kind = kind;
        value->text = word;
        return true;
      }
    }
    return Fail("expected a value");
  }

  bool ParseObject(JsonValue* value, int depth) {
    value->kind = JsonValue::Kind::kObject;
    ++pos_;  // '{'
    SkipSpace();
    if (Consume("}")) return true;
    for (;;) {
      SkipSpace();
      std::string key;
      if (Peek() != '"') return Fail("expected a key");
      if (!ParseString(&key)) return false;
      SkipSpace();
      if (!Consume(":")) return Fail("expected ':'");
      SkipSpace();
      JsonValue member;
      if (!ParseValue(&member, depth + 1)) return false;
      if (!value->members.emplace(key, std::move(member)).second) {
        return Fail("repeated key \"" + key + "\"");
      }
      SkipSpace();
      if (Consume("}")) return true;
      if (!Consume(",")) return Fail("expected ',' or '}'");
    }
  }

  bool ParseArray(JsonValue* value, int depth) {
    value->kind = JsonValue::Kind::kArray;
    ++pos_;  // '['
    SkipSpace();
    if (Consume("]")) return true;
    for (;;) {
      SkipSpace();
      JsonValue item;
      if (!ParseValue(&item, depth + 1)) return false;
      value->items.push_back(std::move(item));
      SkipSpace();
      if (Consume("]")) return true;
      if (!Consume(",")) return Fail("expected ',' or ']'");
    }
  }

  bool Digits() {
    const size_t start = pos_;
    while (Peek() >= '0' && Peek() <= '9') ++pos_;
    return pos_ > start;
  }

  bool ParseNumber(JsonValue* value) {
    const size_t start = pos_;
    Consume("-");
    if (Consume("0")) {
      if (Peek() >= '0' && Peek() <= '9') return Fail("leading zero");
    } else if (!Digits()) {
      return Fail("bad number");
    }
    if (Consume(".") && !Digits()) return Fail("bad fraction");
    if (Peek() == 'e' || Peek() == 'E') {
      ++pos_;
      if (Peek() == '+' || Peek() == '-') ++pos_;
      if (!Digits()) return Fail("bad exponent");
    }
    value->kind = JsonValue::Kind::kNumber;
    value->text = std::string(text_.substr(start, pos_ - start));
    return true;
  }

  bool ParseHex4(uint32_t* unit) {
    if (pos_ + 4 > text_.size()) return Fail("short \\u escape");
    *unit = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      uint32_t digit = 0;
      if (c >= '0' && c <= '9') {
        digit = static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        digit = static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        digit = static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return Fail("bad \\u escape");
      }
      *unit = (*unit << 4) | digit;
    }
    return true;
  }

  // After "\u": one code point, a surrogate pair counting as one.
  bool ParseUnicodeEscape(std::string* out) {
    uint32_t unit = 0;
    if (!ParseHex4(&unit)) return false;
    if (unit >= 0xdc00 && unit <= 0xdfff) return Fail("lone low surrogate");
    if (unit >= 0xd800 && unit <= 0xdbff) {
      uint32_t low = 0;
      if (!Consume("\\u") || !ParseHex4(&low) || low < 0xdc00 || low > 0xdfff) {
        return Fail("lone high surrogate");
      }
      unit = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
    }
    AppendUtf8(unit, out);
    return true;
  }

  bool ParseEscape(std::string* out) {
    if (AtEnd()) return Fail("unterminated string");
    const char c = text_[pos_++];
    switch (c) {
      case '"':
      case '\\':
      case '/':
        out->push_back(c);
        return true;
      case 'b':
        out->push_back('\b');
        return true;
      case 'f':
        out->push_back('\f');
        return true;
      case 'n':
        out->push_back('\n');
        return true;
      case 'r':
        out->push_back('\r');
        return true;
      case 't':
        out->push_back('\t');
        return true;
      case 'u':
        return ParseUnicodeEscape(out);
      default:
        return Fail("bad escape");
    }
  }

  bool ParseString(std::string* out) {
    ++pos_;  // '"'
    for (;;) {
      if (AtEnd()) return Fail("unterminated string");
      const auto byte = static_cast<unsigned char>(Peek());
      if (byte == '"') {
        ++pos_;
        return true;
      }
      if (byte < 0x20) return Fail("raw control character in a string");
      if (byte == '\\') {
        ++pos_;
        if (!ParseEscape(out)) return false;
        continue;
      }
      const size_t length = Utf8Length(text_.substr(pos_));
      if (length == 0) return Fail("invalid UTF-8 in a string");
      out->append(text_.substr(pos_, length));
      pos_ += length;
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

const JsonValue* JsonValue::Find(const std::string& key) const {
  auto it = members.find(key);
  return it == members.end() ? nullptr : &it->second;
}

std::optional<JsonValue> ParseJson(std::string_view text, std::string* error) {
  return Parser(text).ParseDocument(error);
}

std::optional<JsonValue> ParseJsonObjectLine(std::string_view line, std::string* error) {
  if (line.find('\n') != std::string_view::npos) {
    *error = "more than one line";
    return std::nullopt;
  }
  std::optional<JsonValue> value = ParseJson(line, error);
  if (value && value->kind != JsonValue::Kind::kObject) {
    *error = "not a JSON object";
    return std::nullopt;
  }
  return value;
}

}  // namespace tether::testing
