#include "embed/report_parser.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <utility>

namespace ctdb::embed {
namespace {

struct Lexeme {
  const char* finding;
  const char* default_region;
  std::vector<const char*> present;  // phrases asserting the finding
  std::vector<const char*> absent;   // phrases that themselves deny it ("heart size is normal")
  const char* not_after = nullptr;   // a match right after this word belongs to another finding
};

// Longer, more specific phrases first within each entry; entries are
// matched independently, so "pleural or pericardial effusion" names both.
const std::vector<Lexeme>& Lexicon() {
  static const std::vector<Lexeme> lex = {
      {"Pericardial effusion", "pericardium",
       {"pericardial effusion", "pericardial fluid", "pleural or pericardial effusion",
        "pleural and pericardial effusion", "pleural or pericardial effusions"},
       {}},
      {"Pleural effusion", "pleura",
       {"pleural effusion", "pleural fluid", "pleural or pericardial effusion", "pleural and pericardial effusion",
        "pleural or pericardial effusions", "pleural effusions", "hydrothorax", "effusions", "effusion"},
       {},
       "pericardial "},
      {"Cardiomegaly", "heart",
       {"cardiomegaly", "enlarged heart", "heart is enlarged", "cardiac enlargement", "heart size is increased",
        "increased heart size"},
       {"heart is not enlarged", "heart size is normal", "normal heart size", "heart size within normal limits"}},
      {"Lung nodule", "lung", {"nodules", "nodule", "nodular opacity", "nodular opacities"}, {}},
      {"Emphysema", "lung", {"emphysema", "emphysematous"}, {}},
      {"Atelectasis", "lung", {"atelectasis", "atelectatic"}, {}},
      {"Consolidation", "lung", {"consolidation", "consolidative", "consolidations"}, {}},
      {"Lung opacity", "lung", {"ground-glass opacit", "ground glass opacit", "opacities", "opacity", "infiltrate"}, {}},
      {"Lymphadenopathy", "mediastinum",
       {"lymphadenopathy", "enlarged lymph node", "enlarged mediastinal lymph node", "enlarged hilar lymph node",
        "lymph node enlargement", "pathologically enlarged lymph node",
        "pathological lymph node"},
       {}},
      {"Coronary artery wall calcification", "coronary arteries",
       {"coronary artery calcification", "coronary arterial calcification", "coronary calcification",
        "coronary artery wall calcification", "calcified coronary"},
       {}},
      {"Arterial wall calcification", "aorta",
       {"aortic calcification", "arterial wall calcification", "atherosclerotic calcification",
        "aortic wall calcification", "calcified atherosclerotic plaque", "atherosclerosis"},
       {}},
      {"Hiatal hernia", "esophagus", {"hiatal hernia", "hiatus hernia"}, {}},
      {"Bronchiectasis", "airways", {"bronchiectasis", "bronchiectatic"}, {}},
      {"Mosaic attenuation pattern", "lung", {"mosaic attenuation", "mosaic pattern", "mosaic perfusion"}, {}},
      {"Peribronchial thickening", "airways",
       {"peribronchial thickening", "bronchial wall thickening", "peribronchial cuffing"},
       {}},
      {"Interlobular septal thickening", "lung", {"interlobular septal thickening", "septal thickening"}, {}},
      {"Pulmonary fibrotic sequela", "lung",
       {"fibrotic sequela", "fibrotic change", "fibrosis", "fibrotic", "parenchymal scarring", "scarring"},
       {}},
      {"Medical material", "body",
       {"catheter", "pacemaker", "central line", "port-a-cath", "chest tube", "endotracheal tube", "stent",
        "sternotomy wire", "surgical clip", "prosthesis", "drain"},
       {}},
      {"Pneumothorax", "pleura", {"pneumothorax"}, {}},
  };
  return lex;
}

// Region phrases, most specific first.
const std::vector<std::pair<const char*, const char*>>& Regions() {
  static const std::vector<std::pair<const char*, const char*>> r = {
      {"right upper lobe", "right upper lobe"}, {"right middle lobe", "right middle lobe"},
      {"right lower lobe", "right lower lobe"}, {"left upper lobe", "left upper lobe"},
      {"left lower lobe", "left lower lobe"},   {"lingula", "lingula"},
      {"bibasilar", "both lungs"},              {"bilateral", "both lungs"},
      {"both lungs", "both lungs"},             {"right lung", "right lung"},
      {"left lung", "left lung"},               {"right-sided", "right"},
      {"left-sided", "left"},                   {"right", "right"},
      {"left", "left"},                         {"mediastinal", "mediastinum"},
      {"hilar", "hilum"},                       {"pericardi", "pericardium"},
      {"aort", "aorta"},                        {"coronary", "coronary arteries"}};
  return r;
}

const char* const kPreNegation[] = {"no evidence of", "negative for", "free of", "absence of", "without", "no ",
                                    "not ", "nor ", "neither ", "ruled out", "rules out", "resolution of"};
const char* const kPostNegation[] = {"has resolved", "have resolved", "resolved", "is not seen", "are not seen",
                                     "not seen", "not identified", "not present", "is absent", "are absent",
                                     "was ruled out", "no longer"};
const char* const kUncertain[] = {"cannot be excluded", "can not be excluded", "not excluded", "possible",
                                  "possibly", "probable", "suspicious for", "suspected", "questionable",
                                  "may represent", "may be", "likely"};
// Clause boundaries end a negation's scope.
const char* const kBoundaries[] = {" but ", " however", ";", " although ", " except ", " whereas ", " while "};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; }

// Start of the clause containing `pos`.
size_t ClauseStart(const std::string& s, size_t pos) {
  size_t start = 0;
  for (const char* b : kBoundaries) {
    for (size_t at = s.find(b); at != std::string::npos && at < pos; at = s.find(b, at + 1)) {
      start = std::max(start, at + std::string(b).size());
    }
  }
  return start;
}

size_t ClauseEnd(const std::string& s, size_t pos) {
  size_t end = s.size();
  for (const char* b : kBoundaries) {
    const size_t at = s.find(b, pos);
    if (at != std::string::npos) end = std::min(end, at);
  }
  return end;
}

bool HasCue(const std::string& text, const char* const* cues, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const std::string cue = cues[i];
    for (size_t at = text.find(cue); at != std::string::npos; at = text.find(cue, at + 1)) {
      // Whole-word start, so "know" does not count as "no".
      if (at == 0 || !IsWordChar(text[at - 1])) return true;
    }
  }
  return false;
}

void FindReferences(const std::string& lower, size_t sentence, std::vector<SliceReference>* out) {
  // "series 2, image 143", "series 2 image 143", "se 2 im 143", "image 143 of series 2", "image 143".
  for (size_t at = lower.find("image"); at != std::string::npos; at = lower.find("image", at + 1)) {
    if (at > 0 && IsWordChar(lower[at - 1])) continue;
    size_t p = at + 5;
    while (p < lower.size() && (lower[p] == ' ' || lower[p] == '#' || lower[p] == ':')) ++p;
    if (p >= lower.size() || !std::isdigit(static_cast<unsigned char>(lower[p]))) continue;
    SliceReference ref;
    ref.sentence = sentence;
    ref.image = std::atoi(lower.c_str() + p);
    const size_t se = lower.rfind("series", at);
    if (se != std::string::npos && at - se < 16) ref.series = std::atoi(lower.c_str() + se + 6);
    const size_t of = lower.find("of series", p);
    if (ref.series == 0 && of != std::string::npos && of - p < 8) ref.series = std::atoi(lower.c_str() + of + 9);
    if (ref.image > 0) out->push_back(ref);
  }
}

}  // namespace

std::vector<std::string> SplitSentences(std::string_view text) {
  static const char* const kAbbrev[] = {"e.g", "i.e", "approx", "dr", "vs", "cf", "etc", "no", "fig", "mr", "mrs"};
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  auto flush = [&] {
    size_t b = 0, e = cur.size();
    while (b < e && std::isspace(static_cast<unsigned char>(cur[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(cur[e - 1]))) --e;
    if (e > b) out.push_back(cur.substr(b, e - b));
    cur.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n' || c == '\r') {
      flush();
      continue;
    }
    cur += c;
    if (c == '(') ++depth;
    if (c == ')' && depth > 0) --depth;
    if ((c != '.' && c != '?' && c != '!') || depth > 0) continue;
    const bool at_end = i + 1 == text.size() || std::isspace(static_cast<unsigned char>(text[i + 1]));
    if (!at_end) continue;  // "6.5", "e.g.x"
    // "1. " numbering an impression list: not a sentence of its own.
    const size_t first = cur.find_first_not_of(" \t");
    if (c == '.' && first != std::string::npos && cur.size() - first >= 2 && cur.size() - first <= 4 &&
        std::all_of(cur.begin() + static_cast<std::ptrdiff_t>(first), cur.end() - 1,
                    [](char d) { return std::isdigit(static_cast<unsigned char>(d)); })) {
      cur.clear();
      continue;
    }
    // "e.g. ", "approx. ": an abbreviation, not an end.
    size_t w = cur.size() - 1;
    while (w > 0 && (std::isalpha(static_cast<unsigned char>(cur[w - 1])) || cur[w - 1] == '.')) --w;
    const std::string word = Lower(std::string_view(cur).substr(w, cur.size() - 1 - w));
    bool abbrev = false;
    for (const char* a : kAbbrev) abbrev = abbrev || word == a;
    // "No." alone ends a sentence ("No."), but "No. 4" would not; keep it simple: only when followed by a digit.
    if (word == "no") abbrev = i + 2 < text.size() && std::isdigit(static_cast<unsigned char>(text[i + 2]));
    if (!abbrev) flush();
  }
  flush();
  return out;
}

// Whole-study normal statements; a sentence matching one that also names a
// finding ("normal chest CT except for a small effusion") is not one.
const char* const kNormalStudy[] = {"normal chest ct",       "normal ct of the chest", "normal study",
                                    "unremarkable chest ct", "unremarkable ct of the chest",
                                    "no acute cardiopulmonary", "no acute intrathoracic", "no acute thoracic",
                                    "no acute abnormalit",   "no abnormalit",          "no significant abnormalit",
                                    "no pathologic findings", "no pathological findings"};

ParsedReport ParseReport(std::string_view text) {
  ParsedReport r;
  r.sentences = SplitSentences(text);
  std::vector<size_t> normal_sentences;
  for (size_t si = 0; si < r.sentences.size(); ++si) {
    const std::string s = " " + Lower(r.sentences[si]) + " ";
    for (const char* n : kNormalStudy) {
      if (s.find(std::string(" ") + n) != std::string::npos) {
        normal_sentences.push_back(si);
        break;
      }
    }
    FindReferences(s, si, &r.references);
    for (const Lexeme& lx : Lexicon()) {
      // Earliest mention of this finding in the sentence.
      size_t best = std::string::npos, best_len = 0;
      bool denied = false;
      for (const char* phrase : lx.absent) {
        const size_t at = s.find(phrase);
        if (at != std::string::npos && at < best) {
          best = at;
          best_len = std::string(phrase).size();
          denied = true;
        }
      }
      for (const char* phrase : lx.present) {
        for (size_t at = s.find(phrase); at != std::string::npos; at = s.find(phrase, at + 1)) {
          if (IsWordChar(s[at - 1])) continue;  // inside another word
          if (lx.not_after) {
            const size_t n = std::string(lx.not_after).size();
            if (at >= n && s.compare(at - n, n, lx.not_after) == 0) continue;
          }
          if (at < best || (at == best && std::string(phrase).size() > best_len)) {
            best = at;
            best_len = std::string(phrase).size();
            denied = false;
          }
          break;
        }
      }
      if (best == std::string::npos) continue;
      ReportFinding f;
      f.sentence = si;
      f.finding = lx.finding;
      f.region = lx.default_region;
      const size_t cs = ClauseStart(s, best), ce = ClauseEnd(s, best + best_len);
      const std::string before = s.substr(cs, best - cs);
      const std::string after = s.substr(best + best_len, ce - best - best_len);
      const std::string clause = s.substr(cs, ce - cs);
      if (denied || HasCue(before, kPreNegation, std::size(kPreNegation)) ||
          HasCue(after, kPostNegation, std::size(kPostNegation))) {
        f.existence = Existence::kAbsent;
      } else if (HasCue(clause, kUncertain, std::size(kUncertain))) {
        f.existence = Existence::kUncertain;
      }
      for (const auto& [phrase, region] : Regions()) {
        const size_t at = clause.find(phrase);
        if (at != std::string::npos && (at == 0 || !IsWordChar(clause[at - 1]))) {
          // "right"/"left" alone refine the default region ("right pleura").
          const std::string reg = region;
          f.region = (reg == "right" || reg == "left") ? reg + " " + lx.default_region : reg;
          break;
        }
      }
      r.findings.push_back(std::move(f));
    }
  }
  for (size_t si : normal_sentences) {
    const bool names = std::any_of(r.findings.begin(), r.findings.end(), [&](const ReportFinding& f) {
      return f.sentence == si && f.existence != Existence::kAbsent;
    });
    r.normal_study = r.normal_study || !names;
  }
  return r;
}

}  // namespace ctdb::embed

namespace ctdb::embed {

std::vector<ReportStatement> ParseStatements(const std::string& findings, const std::string& impression) {
  const ParsedReport r = ParseReport(findings + "\n" + impression);
  std::vector<ReportStatement> out;
  out.reserve(r.findings.size());
  for (const auto& f : r.findings) out.push_back({f.finding, f.region, f.existence, static_cast<uint32_t>(f.sentence)});
  return out;
}

std::vector<AttributeContrast> AttributeContrasts(std::string_view sentence) {
  struct Swap {
    const char* word;
    std::vector<const char*> into;
  };
  static const std::vector<std::pair<const char*, std::vector<Swap>>> kAttributes = {
      {"side", {{"right", {"left"}}, {"left", {"right"}}, {"bilateral", {"right", "left"}}}},
      {"level", {{"upper", {"lower"}}, {"lower", {"upper"}}, {"middle", {"upper", "lower"}}}},
      {"amount", {{"small", {"large"}}, {"moderate", {"small", "large"}}, {"large", {"small"}}}},
  };
  const std::string text(sentence);
  std::string lower = text;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto is_letter = [&](size_t i) { return std::isalpha(static_cast<unsigned char>(lower[i])) != 0; };
  // First whole-word occurrence of `word` in the sentence, npos if none.
  auto find_word = [&](const std::string& word) {
    for (size_t at = lower.find(word); at != std::string::npos; at = lower.find(word, at + 1)) {
      const size_t end = at + word.size();
      if ((at == 0 || !is_letter(at - 1)) && (end == lower.size() || !is_letter(end))) return at;
    }
    return std::string::npos;
  };
  std::vector<AttributeContrast> out;
  for (const auto& [attribute, swaps] : kAttributes) {
    // The attribute's word that comes first in the sentence.
    const Swap* first = nullptr;
    size_t first_at = std::string::npos;
    for (const Swap& s : swaps) {
      const size_t at = find_word(s.word);
      if (at < first_at) first = &s, first_at = at;
    }
    if (first == nullptr) continue;
    AttributeContrast c;
    c.attribute = attribute;
    const size_t len = std::string(first->word).size();
    const bool capital = std::isupper(static_cast<unsigned char>(text[first_at])) != 0;
    for (const char* into : first->into) {
      std::string word = into;
      if (capital) word[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(word[0])));
      c.variants.push_back(text.substr(0, first_at) + word + text.substr(first_at + len));
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::optional<double> StatedSizeMm(std::string_view sentence) {
  std::optional<double> best;
  std::vector<double> pending;  // "8 x 6": numbers waiting for their unit
  size_t i = 0;
  auto skip_spaces = [&] {
    while (i < sentence.size() && sentence[i] == ' ') ++i;
  };
  auto unit_at = [&](std::string_view unit) {
    if (sentence.substr(i, unit.size()) != unit) return false;
    const size_t end = i + unit.size();
    return end == sentence.size() || !std::isalpha(static_cast<unsigned char>(sentence[end]));
  };
  while (i < sentence.size()) {
    const bool starts_number = std::isdigit(static_cast<unsigned char>(sentence[i])) &&
                               (i == 0 || !std::isalnum(static_cast<unsigned char>(sentence[i - 1])));
    if (!starts_number) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < sentence.size() && (std::isdigit(static_cast<unsigned char>(sentence[end])) ||
                                     (sentence[end] == '.' && end + 1 < sentence.size() &&
                                      std::isdigit(static_cast<unsigned char>(sentence[end + 1]))))) {
      ++end;
    }
    pending.push_back(std::strtod(std::string(sentence.substr(i, end - i)).c_str(), nullptr));
    i = end;
    skip_spaces();
    if (i < sentence.size() && (sentence[i] == 'x' || sentence[i] == 'X')) {  // "8 x 6 mm"
      size_t next = i + 1;
      while (next < sentence.size() && sentence[next] == ' ') ++next;
      if (next < sentence.size() && std::isdigit(static_cast<unsigned char>(sentence[next]))) {
        i = next;
        continue;
      }
    }
    const double scale = unit_at("mm") ? 1 : unit_at("cm") ? 10 : 0;
    if (scale > 0) {
      for (double v : pending) best = std::max(best.value_or(0.0), v * scale);
    }
    pending.clear();
  }
  return best;
}

std::string RemoveSliceReferences(const std::string& text) {
  std::string out = text;
  size_t search = 0;
  for (size_t open; (open = out.find('(', search)) != std::string::npos;) {
    const size_t close = out.find(')', open);
    if (close == std::string::npos) break;
    const std::string inner = out.substr(open, close - open);
    if (inner.find("image") == std::string::npos && inner.find("Image") == std::string::npos) {
      search = close;  // another parenthesis: keep it
      continue;
    }
    size_t from = open;
    while (from > 0 && out[from - 1] == ' ') --from;
    out.erase(from, close + 1 - from);
    search = from;
  }
  return out;
}

}  // namespace ctdb::embed
