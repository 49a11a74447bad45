// WordPiece tokenization compatible with BERT's vocab.txt files: basic
// tokenization (control characters dropped, whitespace split, CJK
// ideographs and punctuation split off), optional lower-casing and accent
// stripping, then greedy longest-match-first WordPiece with "##"
// continuations, [UNK] for words that do not tokenize, and [CLS] ... [SEP]
// around a sequence truncated to a maximum length.
//
// Accent stripping and lower-casing cover ASCII, Latin-1 and Latin
// Extended-A (what radiology reports in European languages use) without
// ICU; other scripts pass through unchanged.
//
// Thread contract: a WordPiece is immutable after construction; Encode is
// thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ctdb/result.h"

namespace ctdb::embed {

struct TokenizerOptions {
  bool lower_case = true;     // BERT "uncased" models: true
  bool strip_accents = true;  // follows lower_case in BERT uncased
  // Words longer than this (in code points) become [UNK], as in BERT.
  int max_chars_per_word = 100;
};

// One tokenized text: ids start with [CLS] and end with [SEP].
struct TokenIds {
  std::vector<int64_t> ids;
};

class WordPiece {
 public:
  // Reads vocab.txt (one token per line; id = line number). InvalidArgument
  // when [PAD], [UNK], [CLS] or [SEP] is missing or the file is empty;
  // NotFound / IOError when it cannot be read.
  static Result<std::unique_ptr<WordPiece>> Load(const std::string& vocab_path, const TokenizerOptions& options);
  static Result<std::unique_ptr<WordPiece>> FromTokens(std::vector<std::string> tokens,
                                                       const TokenizerOptions& options);

  // Basic tokenization only (the words WordPiece then splits).
  std::vector<std::string> BasicTokenize(const std::string& text) const;
  // WordPiece tokens of a text, without [CLS]/[SEP] and without truncation.
  std::vector<std::string> Tokenize(const std::string& text) const;
  // [CLS] tokens [SEP], truncated to max_tokens (>= 2) keeping the [SEP].
  TokenIds Encode(const std::string& text, int max_tokens) const;

  int64_t pad_id() const { return pad_; }
  int64_t unk_id() const { return unk_; }
  int64_t cls_id() const { return cls_; }
  int64_t sep_id() const { return sep_; }
  size_t size() const { return tokens_.size(); }
  const std::string& token(int64_t id) const { return tokens_[static_cast<size_t>(id)]; }
  // -1 when absent.
  int64_t Id(const std::string& token) const;

 private:
  WordPiece() = default;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ids_;
  TokenizerOptions options_;
  int64_t pad_ = 0, unk_ = 0, cls_ = 0, sep_ = 0;
};

// A vocabulary for a new model learnt from a corpus: the special tokens,
// every character seen (alone and as a "##" continuation), then the most
// frequent words (at least min_count occurrences) up to max_size tokens.
// Every text of the corpus therefore tokenizes without [UNK].
std::vector<std::string> BuildVocab(const std::vector<std::string>& corpus, const TokenizerOptions& options,
                                    size_t max_size, int min_count = 2);

// Writes tokens one per line. IOError on failure.
Status WriteVocab(const std::string& path, const std::vector<std::string>& tokens);

}  // namespace ctdb::embed
