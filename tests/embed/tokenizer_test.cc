// WordPiece as BERT's reference tokenizer does it (expected outputs worked
// out from BERT's tokenization.py rules).
#include <doctest/doctest.h>

#include "embed/tokenizer.h"
#include "tests/test_util.h"

namespace ctdb::embed {
namespace {

std::unique_ptr<WordPiece> Make(std::vector<std::string> extra, TokenizerOptions o = {}) {
  std::vector<std::string> v = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  v.insert(v.end(), extra.begin(), extra.end());
  auto wp = WordPiece::FromTokens(v, o);
  REQUIRE(wp.ok());
  return std::move(wp).value();
}

TEST_CASE("tokenizer: basic tokenization lower-cases, strips accents, splits punctuation") {
  auto wp = Make({});
  CHECK(wp->BasicTokenize(" \tHeLLo!how  \n Are yoU?  ") ==
        std::vector<std::string>{"hello", "!", "how", "are", "you", "?"});
  CHECK(wp->BasicTokenize("H\xC3\xA4llo Caf\xC3\xA9 na\xC3\xAFve") ==
        std::vector<std::string>{"hallo", "cafe", "naive"});
  // A decomposed accent (e + U+0301) is dropped too.
  CHECK(wp->BasicTokenize("cafe\xCC\x81") == std::vector<std::string>{"cafe"});
  // "6.5 mm (series 2, image 143)."
  CHECK(wp->BasicTokenize("6.5 mm (series 2, image 143).") ==
        std::vector<std::string>{"6", ".", "5", "mm", "(", "series", "2", ",", "image", "143", ")", "."});
  // CJK ideographs stand alone; control characters vanish.
  CHECK(wp->BasicTokenize("ah\xE5\x8D\x9A\xE6\x8E\xA8zz\x01") ==
        std::vector<std::string>{"ah", "\xE5\x8D\x9A", "\xE6\x8E\xA8", "zz"});
  // Invalid UTF-8 bytes are dropped, not passed on.
  CHECK(wp->BasicTokenize("ok\xFF\xFEgo") == std::vector<std::string>{"okgo"});

  TokenizerOptions cased;
  cased.lower_case = false;
  cased.strip_accents = false;
  auto wc = Make({}, cased);
  CHECK(wc->BasicTokenize("HeLLo Caf\xC3\xA9") == std::vector<std::string>{"HeLLo", "Caf\xC3\xA9"});
}

TEST_CASE("tokenizer: greedy longest-match-first WordPiece") {
  // BERT's own example vocabulary.
  auto wp = Make({"want", "##want", "##ed", "wa", "un", "runn", "##ing", ",", "low", "lowest"});
  CHECK(wp->Tokenize("") == std::vector<std::string>{});
  CHECK(wp->Tokenize("unwanted running") == std::vector<std::string>{"un", "##want", "##ed", "runn", "##ing"});
  // One unknown piece makes the whole word [UNK].
  CHECK(wp->Tokenize("unwantedX running") == std::vector<std::string>{"[UNK]", "runn", "##ing"});
  CHECK(wp->Tokenize("lowest, low") == std::vector<std::string>{"lowest", ",", "low"});
}

TEST_CASE("tokenizer: overlong words, [CLS]/[SEP] and truncation") {
  TokenizerOptions o;
  o.max_chars_per_word = 5;
  auto wp = Make({"a", "##a", "pleural", "effusion"}, o);
  CHECK(wp->Tokenize("aaaaa aaaaaa") == std::vector<std::string>{"a", "##a", "##a", "##a", "##a", "[UNK]"});
  auto big = Make({"pleural", "effusion", "no"});
  TokenIds t = big->Encode("No pleural effusion", 16);
  CHECK(t.ids == std::vector<int64_t>{2, 7, 5, 6, 3});
  // Truncation keeps [CLS] ... [SEP] within max_tokens.
  t = big->Encode("no no no no no no", 4);
  CHECK(t.ids == std::vector<int64_t>{2, 7, 7, 3});
  t = big->Encode("", 8);
  CHECK(t.ids == std::vector<int64_t>{2, 3});
}

TEST_CASE("tokenizer: vocab files") {
  test::TempDir dir;
  test::WriteFileBytes(dir.Sub("vocab.txt"), "[PAD]\r\n[UNK]\n[CLS]\n[SEP]\nlung\n##s\n");
  auto wp = WordPiece::Load(dir.Sub("vocab.txt"), {});
  REQUIRE(wp.ok());
  CHECK((*wp)->size() == 6);
  CHECK((*wp)->pad_id() == 0);  // CRLF line endings tolerated
  CHECK((*wp)->Tokenize("Lungs") == std::vector<std::string>{"lung", "##s"});

  CHECK(WordPiece::Load(dir.Sub("missing.txt"), {}).status().IsNotFound());
  test::WriteFileBytes(dir.Sub("nocls.txt"), "[PAD]\n[UNK]\n[SEP]\n");
  auto bad = WordPiece::Load(dir.Sub("nocls.txt"), {});
  CHECK(bad.status().IsInvalidArgument());
  CHECK(bad.status().message().find("[CLS]") != std::string::npos);
  test::WriteFileBytes(dir.Sub("empty.txt"), "");
  CHECK(WordPiece::Load(dir.Sub("empty.txt"), {}).status().IsInvalidArgument());
}

TEST_CASE("tokenizer: a vocabulary built from a corpus spells the corpus without [UNK]") {
  const std::vector<std::string> corpus = {"No pleural effusion.", "Small right pleural effusion (series 2, image 40).",
                                           "Mild cardiomegaly; no pericardial effusion."};
  auto vocab = BuildVocab(corpus, {}, 64);
  CHECK(vocab.size() <= 64);
  auto wp = WordPiece::FromTokens(vocab, {});
  REQUIRE(wp.ok());
  for (const auto& text : corpus) {
    for (const auto& tok : (*wp)->Tokenize(text)) CHECK(tok != "[UNK]");
  }
  // Frequent words are whole tokens; rare ones are spelled from characters.
  CHECK((*wp)->Id("effusion") >= 0);
  CHECK((*wp)->Id("pleural") >= 0);
  CHECK((*wp)->Tokenize("cardiomegaly").size() > 1);
  // Deterministic.
  CHECK(BuildVocab(corpus, {}, 64) == vocab);
}

}  // namespace
}  // namespace ctdb::embed
