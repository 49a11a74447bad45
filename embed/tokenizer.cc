#include "embed/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <map>

namespace ctdb::embed {
namespace {

// --- UTF-8 -------------------------------------------------------------

std::vector<char32_t> DecodeUtf8(const std::string& s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + static_cast<size_t>(len) > s.size()) {
      out.push_back(0xFFFD);  // invalid byte: dropped later, as BERT drops U+FFFD
      ++i;
      continue;
    }
    char32_t cp = len == 1 ? c : static_cast<char32_t>(c & (0x7F >> len));
    bool bad = false;
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      if ((cc >> 6) != 2) bad = true;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (bad) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += static_cast<size_t>(len);
  }
  return out;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string EncodeUtf8(const std::vector<char32_t>& cps) {
  std::string s;
  for (char32_t c : cps) AppendUtf8(c, &s);
  return s;
}

// --- Character classes (BERT's _is_whitespace, _is_control, ...) --------

bool IsWhitespace(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

bool IsControl(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0xAD || (c >= 0x200B && c <= 0x200F) ||
         (c >= 0x202A && c <= 0x202E) || (c >= 0x2060 && c <= 0x2064) || c == 0xFEFF;
}

bool IsPunctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  return c == 0xA1 || c == 0xA7 || c == 0xAB || c == 0xB6 || c == 0xB7 || c == 0xBB || c == 0xBF ||
         (c >= 0x2010 && c <= 0x2027) || (c >= 0x2030 && c <= 0x205E) || (c >= 0x3001 && c <= 0x3003) ||
         (c >= 0x3008 && c <= 0x3011);
}

bool IsCjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2CEAF) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool IsCombiningMark(char32_t c) {
  return (c >= 0x300 && c <= 0x36F) || (c >= 0x1AB0 && c <= 0x1AFF) || (c >= 0x1DC0 && c <= 0x1DFF) ||
         (c >= 0x20D0 && c <= 0x20FF) || (c >= 0xFE20 && c <= 0xFE2F);
}

char32_t ToLower(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0xC0) return c;
  if (c <= 0xDE && c != 0xD7) return c + 0x20;
  if (c >= 0x100 && c <= 0x137) return (c % 2 == 0) ? c + 1 : c;
  if (c == 0x130) return 'i';
  if (c >= 0x139 && c <= 0x148) return (c % 2 == 1) ? c + 1 : c;
  if (c >= 0x14A && c <= 0x177) return (c % 2 == 0) ? c + 1 : c;
  if (c == 0x178) return 0xFF;
  if (c >= 0x179 && c <= 0x17E) return (c % 2 == 1) ? c + 1 : c;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;
  return c;
}

// Base letter of a precomposed Latin letter (what NFD + dropping marks
// leaves), '.' where it has no decomposition.
constexpr char kLatin1Base[] =
    "AAAAAA.CEEEEIIII"  // C0
    ".NOOOOO..UUUUY.."  // D0
    "aaaaaa.ceeeeiiii"  // E0
    ".nooooo..uuuuy.y";  // F0
constexpr char kLatinExtABase[] =
    "AaAaAaCcCcCcCcDd"  // 100
    "..EeEeEeEeEeGgGg"  // 110
    "GgGgHh..IiIiIiIi"  // 120
    "I...JjKk.LlLlLl."  // 130
    "...NnNnNn...OoOo"  // 140
    "Oo..RrRrRrSsSsSs"  // 150
    "SsTtTt..UuUuUuUu"  // 160
    "UuUuWwYyYZzZzZz.";  // 170

char32_t StripAccent(char32_t c) {
  char base = '.';
  if (c >= 0xC0 && c <= 0xFF) base = kLatin1Base[c - 0xC0];
  if (c >= 0x100 && c <= 0x17F) base = kLatinExtABase[c - 0x100];
  return base == '.' ? c : static_cast<char32_t>(base);
}

}  // namespace

Result<std::unique_ptr<WordPiece>> WordPiece::Load(const std::string& vocab_path, const TokenizerOptions& options) {
  std::ifstream in(vocab_path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open vocabulary " + vocab_path);
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    tokens.push_back(line);
  }
  if (in.bad()) return Status::IOError("reading vocabulary " + vocab_path);
  auto wp = FromTokens(std::move(tokens), options);
  if (!wp.ok()) return Status::InvalidArgument(vocab_path + ": " + wp.status().message());
  return wp;
}

Result<std::unique_ptr<WordPiece>> WordPiece::FromTokens(std::vector<std::string> tokens,
                                                         const TokenizerOptions& options) {
  if (tokens.empty()) return Status::InvalidArgument("the vocabulary is empty");
  if (options.max_chars_per_word < 1) return Status::InvalidArgument("max_chars_per_word must be >= 1");
  std::unique_ptr<WordPiece> wp(new WordPiece());
  wp->options_ = options;
  wp->tokens_ = std::move(tokens);
  for (size_t i = 0; i < wp->tokens_.size(); ++i) {
    wp->ids_[wp->tokens_[i]] = static_cast<int64_t>(i);  // a repeated token keeps its last id, as BERT does
  }
  for (auto [name, slot] : {std::pair{"[PAD]", &wp->pad_}, std::pair{"[UNK]", &wp->unk_},
                            std::pair{"[CLS]", &wp->cls_}, std::pair{"[SEP]", &wp->sep_}}) {
    const int64_t id = wp->Id(name);
    if (id < 0) return Status::InvalidArgument(std::string("the vocabulary has no ") + name + " token");
    *slot = id;
  }
  return wp;
}

int64_t WordPiece::Id(const std::string& token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

std::vector<std::string> WordPiece::BasicTokenize(const std::string& text) const {
  std::vector<std::string> words;
  std::vector<char32_t> word;
  auto flush = [&] {
    if (!word.empty()) words.push_back(EncodeUtf8(word));
    word.clear();
  };
  for (char32_t c : DecodeUtf8(text)) {
    if (c == 0 || c == 0xFFFD || IsControl(c)) continue;
    if (IsWhitespace(c)) {
      flush();
      continue;
    }
    if (options_.lower_case) c = ToLower(c);
    if (options_.strip_accents) {
      if (IsCombiningMark(c)) continue;
      c = StripAccent(c);
    }
    if (IsPunctuation(c) || IsCjk(c)) {
      flush();
      word.push_back(c);
      flush();
      continue;
    }
    word.push_back(c);
  }
  flush();
  return words;
}

std::vector<std::string> WordPiece::Tokenize(const std::string& text) const {
  std::vector<std::string> out;
  for (const std::string& w : BasicTokenize(text)) {
    const std::vector<char32_t> cps = DecodeUtf8(w);
    if (static_cast<int>(cps.size()) > options_.max_chars_per_word) {
      out.push_back("[UNK]");
      continue;
    }
    // Byte offset of each code point, so substrings stay valid UTF-8.
    std::vector<size_t> at;
    std::string enc;
    for (char32_t c : cps) {
      at.push_back(enc.size());
      AppendUtf8(c, &enc);
    }
    at.push_back(enc.size());
    std::vector<std::string> pieces;
    size_t start = 0;
    bool bad = false;
    while (start < cps.size()) {
      size_t end = cps.size();
      std::string found;
      while (end > start) {
        std::string sub = enc.substr(at[start], at[end] - at[start]);
        if (start > 0) sub = "##" + sub;
        if (ids_.count(sub)) {
          found = std::move(sub);
          break;
        }
        --end;
      }
      if (found.empty()) {
        bad = true;
        break;
      }
      pieces.push_back(std::move(found));
      start = end;
    }
    if (bad) {
      out.push_back("[UNK]");
    } else {
      for (auto& p : pieces) out.push_back(std::move(p));
    }
  }
  return out;
}

TokenIds WordPiece::Encode(const std::string& text, int max_tokens) const {
  TokenIds t;
  const size_t budget = static_cast<size_t>(std::max(max_tokens, 2)) - 2;
  t.ids.push_back(cls_);
  for (const std::string& tok : Tokenize(text)) {
    if (t.ids.size() - 1 >= budget) break;
    const int64_t id = Id(tok);
    t.ids.push_back(id < 0 ? unk_ : id);
  }
  t.ids.push_back(sep_);
  return t;
}

std::vector<std::string> BuildVocab(const std::vector<std::string>& corpus, const TokenizerOptions& options,
                                    size_t max_size, int min_count) {
  std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  auto basic = WordPiece::FromTokens(vocab, options);
  std::map<std::string, int64_t> words;
  std::map<char32_t, int64_t> chars;
  for (const std::string& text : corpus) {
    for (const std::string& w : (*basic)->BasicTokenize(text)) {
      ++words[w];
      for (char32_t c : DecodeUtf8(w)) ++chars[c];
    }
  }
  // Characters first (both forms), so that any word can be spelled.
  for (const auto& [c, n] : chars) {
    std::string s;
    AppendUtf8(c, &s);
    vocab.push_back(s);
  }
  for (const auto& [c, n] : chars) {
    std::string s = "##";
    AppendUtf8(c, &s);
    vocab.push_back(s);
  }
  std::vector<std::pair<int64_t, std::string>> ranked;
  for (const auto& [w, n] : words) {
    if (n >= min_count && DecodeUtf8(w).size() > 1) ranked.emplace_back(-n, w);
  }
  std::sort(ranked.begin(), ranked.end());  // most frequent first, then by spelling: deterministic
  for (const auto& [n, w] : ranked) {
    if (vocab.size() >= max_size) break;
    vocab.push_back(w);
  }
  return vocab;
}

Status WriteVocab(const std::string& path, const std::vector<std::string>& tokens) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (const auto& t : tokens) out << t << '\n';
  out.close();
  if (!out) return Status::IOError("cannot write vocabulary " + path);
  return Status::Ok();
}

}  // namespace ctdb::embed
