// Query subcommands over ctdb::QueryEngine: search text|image|disease|report,
// classify, localize, report, diseases; and backup / restore.
#include <cstdio>
#include <memory>

#include "api/src/model_manifest_json.h"
#include "api/src/server/json_codec.h"
#include "embed/disease_catalog.h"
#include "ctdb/ctdb.h"
#include "tools/ctdb/cli_common.h"
#include "tools/ctdb/commands.h"
#include "tools/ctdb/query_session.h"

namespace ctdb::cli {
namespace {

const char kQueryOptions[] =
    "  --db PATH          database directory (required)\n"
    "  --model DIR        the database's model (default: $CTDB_MODEL); needed to encode text or volumes\n"
    "  --threads N        LibTorch/FAISS threads (default: all cores)\n"
    "  --json             machine-readable output\n";

const char kListOptions[] =
    "  --k 10             hits to return;  --offset 0  hits to skip (paging)\n"
    "  --filter EXPR      e.g. 'sex=F,age=40-60,date=20200101-20231231,manufacturer=SIEMENS,\n"
    "                     label=Pleural effusion,finding=Lung nodule'\n"
    "  --exact            exact scan even with an approximate index\n";

Result<Session> OpenSession(const Args& args, bool need_model) {
  int64_t threads = 0;
  CTDB_RETURN_IF_ERROR(args.GetInt("threads", 0, 0, 1024, &threads));
  SessionOptions so;
  so.db = args.Get("db");
  so.model_dir = ModelDirOf(args);
  so.model_threads = so.db_threads = static_cast<int>(threads);
  so.need_model = need_model;
  return cli::OpenSession(so);
}

Status ListArgs(const Args& args, QueryOptions* o) {
  int64_t k, offset;
  CTDB_RETURN_IF_ERROR(args.GetInt("k", 10, 1, 1000, &k));
  CTDB_RETURN_IF_ERROR(args.GetInt("offset", 0, 0, 10000, &offset));
  o->k = static_cast<size_t>(k);
  o->offset = static_cast<size_t>(offset);
  o->exact = args.Has("exact");
  CTDB_ASSIGN_OR_RETURN(o->filter, ParseFilter(args.Get("filter")));
  return Status::Ok();
}

void PrintHits(const QueryResult& r, size_t offset) {
  std::printf("score: %s\n", r.score_meaning.c_str());
  std::printf("%-5s %-24s %-8s %-9s %s\n", "rank", "key", "score", "extra", "impression");
  for (size_t i = 0; i < r.hits.size(); ++i) {
    const QueryHit& h = r.hits[i];
    char extra[64] = "";
    if (h.probability) std::snprintf(extra, sizeof(extra), "p=%.3f", *h.probability);
    if (h.z_mm) std::snprintf(extra, sizeof(extra), "z=%.0fmm", *h.z_mm);
    std::string imp = h.sentence.empty() ? h.record.impression : h.sentence;
    if (imp.size() > 90) imp = imp.substr(0, 87) + "...";
    std::printf("%-5zu %-24s %-8.4f %-9s %s\n", offset + i + 1, h.key.c_str(), h.score, extra, imp.c_str());
  }
  if (r.hits.empty()) std::printf("(no hits)\n");
}

std::string JoinPositional(const Args& args, size_t from) {
  std::string t;
  for (size_t i = from; i < args.positional().size(); ++i) t += (t.empty() ? "" : " ") + args.positional()[i];
  return t;
}

// Splits "a|b|c" phrase lists.
std::vector<std::string> Phrases(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t bar = s.find('|', start);
    std::string p = s.substr(start, bar == std::string::npos ? std::string::npos : bar - start);
    const size_t a = p.find_first_not_of(' '), b = p.find_last_not_of(' ');
    if (a != std::string::npos) out.push_back(p.substr(a, b - a + 1));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return out;
}

}  // namespace

int CmdQuerySearch(int argc, char** argv) {
  const std::string help =
      std::string(
          "usage: ctdb search text TEXT...        --db PATH --model DIR [list options]\n"
          "       ctdb search image (--key KEY | --file VOLUME) [--disease NAME] --db PATH [--model DIR] [list options]\n"
          "       ctdb search disease NAME        --db PATH [--exemplar-weight 0] [list options]\n"
          "       ctdb search report TEXT...      --db PATH --model DIR [list options]\n"
          "       ctdb search --like KEY ...      (raw stored-vector search; ctdb search --like --help)\n"
          "text: studies whose images show what the text says (hits carry the z of the best slab).\n"
          "image: studies like a stored one (itself excluded) or like a volume file (NIfTI/DICOM);\n"
          "  --disease compares that disease's query-token features. disease: most likely to show it\n"
          "  (one search with p+ - p-). report: reports matching the text, with the best sentence.\n") +
      kQueryOptions + kListOptions;
  Args args(argc, argv, 0, {"help", "json", "exact"});
  int exit;
  if (!Prepare(args, {"db", "model", "threads", "json", "help", "k", "offset", "filter", "exact", "key", "file",
                      "disease", "exemplar-weight"},
               help, &exit)) {
    return exit;
  }
  if (args.positional().empty()) return UsageError("say what to search: text, image, disease or report", help);
  const std::string what = args.positional()[0];
  QueryOptions qo;
  Status s = ListArgs(args, &qo);
  if (!s.ok()) return UsageError(s.message(), help);
  Result<QueryResult> r = Status::Internal("no query");
  if (what == "text" || what == "report") {
    const std::string text = JoinPositional(args, 1);
    if (text.empty()) return UsageError("search " + what + " needs the text", help);
    auto session = OpenSession(args, true);
    if (!session.ok()) return Fail(session.status());
    r = what == "text" ? session->engine->SearchText(text, qo) : session->engine->SearchReports(text, qo);
    if (r.ok() && args.Has("json")) std::printf("%s\n", server::QueryResultJson(*r, qo.offset).c_str());
    else if (r.ok()) PrintHits(*r, qo.offset);
  } else if (what == "image") {
    if (args.Has("key") == args.Has("file")) return UsageError("search image needs exactly one of --key or --file", help);
    auto session = OpenSession(args, args.Has("file"));
    if (!session.ok()) return Fail(session.status());
    r = args.Has("key") ? session->engine->SearchImageByKey(args.Get("key"), qo, args.Get("disease"))
                        : session->engine->SearchImageByFile(args.Get("file"), qo, args.Get("disease"));
    if (r.ok() && args.Has("json")) std::printf("%s\n", server::QueryResultJson(*r, qo.offset).c_str());
    else if (r.ok()) PrintHits(*r, qo.offset);
  } else if (what == "disease") {
    const std::string name = JoinPositional(args, 1);
    if (name.empty()) return UsageError("search disease needs a disease name", help);
    double w = 0;
    try {
      w = std::stod(args.Get("exemplar-weight", "0"));
    } catch (const std::exception&) {
      return UsageError("--exemplar-weight must be a number in [0, 1]", help);
    }
    auto session = OpenSession(args, false);
    if (!session.ok()) return Fail(session.status());
    r = session->engine->SearchDisease(name, qo, w);
    if (r.ok() && args.Has("json")) std::printf("%s\n", server::QueryResultJson(*r, qo.offset).c_str());
    else if (r.ok()) PrintHits(*r, qo.offset);
  } else {
    return UsageError("unknown search kind '" + what + "' (text, image, disease, report)", help);
  }
  return r.ok() ? kExitOk : Fail(r.status());
}

int CmdClassify(int argc, char** argv) {
  const std::string help = std::string("usage: ctdb classify KEY --db PATH [--model DIR] [--json]\n"
                                       "P(disease) for every disease of the catalog, from the stored vectors, and\n"
                                       "where the model's detector found one (the shipped model: lung nodules):\n"
                                       "the best candidate and every other scoring >= 0.5 (--json: all).\n") +
                           kQueryOptions;
  Args args(argc, argv, 0, {"help", "json"});
  int exit;
  if (!Prepare(args, {"db", "model", "threads", "json", "help"}, help, &exit)) return exit;
  if (args.positional().size() != 1) return UsageError("classify takes one study KEY", help);
  auto session = OpenSession(args, false);
  if (!session.ok()) return Fail(session.status());
  const std::string key = args.positional()[0];
  auto r = session->engine->Classify(key);
  if (!r.ok()) return Fail(r.status());
  if (args.Has("json")) {
    std::printf("%s\n", server::ClassifyJson(key, *r).c_str());
    return 0;
  }
  std::printf("%-40s %-8s %-8s %-8s %s\n", "disease", "P", "P(token)", "P(cal)", "label");
  for (const auto& p : *r) {
    char tok[16] = "-", cal[16] = "-";
    if (p.token_probability) std::snprintf(tok, sizeof(tok), "%.3f", *p.token_probability);
    if (p.calibrated_probability) std::snprintf(cal, sizeof(cal), "%.3f", *p.calibrated_probability);
    std::printf("%-40s %-8.3f %-8s %-8s %s\n", p.disease.c_str(), p.probability, tok, cal, p.labelled ? "present" : "");
  }
  // Where the detector looked: its candidates scoring >= 0.5 (the best one
  // whatever its score), positions LPS mm.
  for (const auto& p : *r) {
    for (size_t i = 0; i < p.detections.size(); ++i) {
      const Detection& d = p.detections[i];
      if (i > 0 && d.score < 0.5f) break;
      std::printf("%s detection %zu: score %.3f at x %+.1f mm (+ = left), y %+.1f mm (+ = posterior) from the "
                  "field of view's centre, z %.1f mm\n",
                  p.disease.c_str(), i + 1, d.score, d.position_mm[0], d.position_mm[1], d.position_mm[2]);
    }
  }
  return 0;
}

int CmdLocalize(int argc, char** argv) {
  const std::string help = std::string("usage: ctdb localize KEY TEXT... --db PATH --model DIR [--json]\n"
                                       "Where along z (mm) the text matches the study best, and the per-slab curve; where\n"
                                       "the text states a finding the model's detector found (the shipped model: a\n"
                                       "lung nodule, on the side the text gives), the detection's position.\n") +
                           kQueryOptions;
  Args args(argc, argv, 0, {"help", "json"});
  int exit;
  if (!Prepare(args, {"db", "model", "threads", "json", "help"}, help, &exit)) return exit;
  if (args.positional().size() < 2) return UsageError("localize takes a study KEY and a TEXT", help);
  auto session = OpenSession(args, true);
  if (!session.ok()) return Fail(session.status());
  auto r = session->engine->Localize(args.positional()[0], JoinPositional(args, 1));
  if (!r.ok()) return Fail(r.status());
  if (args.Has("json")) {
    std::printf("%s\n", server::LocalizationJson(*r).c_str());
    return 0;
  }
  if (r->detection) {
    const Detection& d = *r->detection;
    std::printf("detected %s: z = %.1f mm, x %+.1f mm (+ = left), y %+.1f mm (+ = posterior) from the field of "
                "view's centre (score %.3f)\n",
                d.finding.c_str(), d.position_mm[2], d.position_mm[0], d.position_mm[1], d.score);
  }
  std::printf("best slab: z = %.1f mm (cosine %.4f, slab %.0f mm)\n", r->slab_z_mm, r->score, r->slab_mm);
  float lo = 2, hi = -2;
  for (const auto& p : r->curve) lo = std::min(lo, p.score), hi = std::max(hi, p.score);
  for (const auto& p : r->curve) {
    const int bar = hi > lo ? static_cast<int>(40 * (p.score - lo) / (hi - lo)) : 0;
    std::printf("  z %8.1f  %7.4f  %s\n", p.z_mm, p.score, std::string(static_cast<size_t>(bar), '#').c_str());
  }
  return 0;
}

int CmdReport(int argc, char** argv) {
  const std::string help = std::string("usage: ctdb report KEY --db PATH [--json]\n"
                                       "Drafts a report for a study from the reports of its nearest studies.\n") +
                           kQueryOptions;
  Args args(argc, argv, 0, {"help", "json"});
  int exit;
  if (!Prepare(args, {"db", "model", "threads", "json", "help"}, help, &exit)) return exit;
  if (args.positional().size() != 1) return UsageError("report takes one study KEY", help);
  auto session = OpenSession(args, false);
  if (!session.ok()) return Fail(session.status());
  const std::string key = args.positional()[0];
  auto r = session->engine->DraftReport(key);
  if (!r.ok()) return Fail(r.status());
  if (args.Has("json")) {
    std::printf("%s\n", server::ReportDraftJson(key, *r).c_str());
    return 0;
  }
  std::printf("DRAFT (from %zu similar studies; not a diagnosis):\n  %s\n\nfindings:\n", r->neighbors.size(),
              r->text.c_str());
  for (const auto& f : r->findings) std::printf("  %-36s support %.2f\n", f.finding.c_str(), f.support);
  std::printf("\nneighbours:\n");
  for (const auto& n : r->neighbors) std::printf("  %-24s %.4f  %s\n", n.key.c_str(), n.score, n.impression.c_str());
  return 0;
}

namespace {

// `ctdb diseases calibrate`: fits, prints, and with --save-model writes the
// fits into the model's diseases.json (its own phrases only: a fit belongs
// to the direction its phrases make).
int CalibrateDiseases(const Args& args, Session& session) {
  auto c = session.engine->CalibrateDiseases();
  if (!c.ok()) return Fail(c.status());
  if (args.Has("save-model")) {
    auto protos = session.model->DiseasePhrases();
    if (!protos.ok()) return Fail(protos.status());
    std::vector<embed::DiseasePrompts> file;
    size_t saved = 0;
    for (const auto& p : *protos) {
      embed::DiseasePrompts d;
      d.name = p.name;
      d.positive = p.positive;
      d.negative = p.negative;
      for (const auto& e : *c) {
        if (e.name != p.name || e.positive != p.positive || e.negative != p.negative || !e.calibration_studies) continue;
        d.calibration_scale = e.calibration_scale;
        d.calibration_bias = e.calibration_bias;
        d.calibration_studies = e.calibration_studies;
        ++saved;
      }
      file.push_back(std::move(d));
    }
    Status s = WriteDiseaseCatalog(args.Get("model"), file);
    if (!s.ok()) return Fail(s);
    std::fprintf(stderr, "wrote %zu calibrations into %s/diseases.json\n", saved, args.Get("model").c_str());
  }
  if (args.Has("json")) {
    std::printf("%s\n", server::DiseasesJson(*c).c_str());
    return 0;
  }
  for (const auto& e : *c) {
    if (e.calibration_studies) {
      std::printf("%-40s scale %8.4f  bias %+8.3f  (%llu studies)\n", e.name.c_str(), e.calibration_scale,
                  e.calibration_bias, (unsigned long long)e.calibration_studies);
    } else {
      std::printf("%-40s uncalibrated (fewer than 5 stored studies with it, or without it)\n", e.name.c_str());
    }
  }
  return 0;
}

}  // namespace

int CmdDiseases(int argc, char** argv) {
  const std::string help =
      std::string("usage: ctdb diseases [list]                                   --db PATH [--model DIR] [--json]\n"
                  "       ctdb diseases set NAME --positive 'a|b' [--negative 'c|d'] --db PATH --model DIR\n"
                  "       ctdb diseases delete NAME                              --db PATH\n"
                  "       ctdb diseases exemplars                                --db PATH [--model DIR]\n"
                  "       ctdb diseases calibrate                                --db PATH [--model DIR] [--save-model]\n"
                  "The database's disease catalog: phrases saying a finding is present (--positive) or\n"
                  "absent (--negative), '|'-separated, embedded into prototypes with the model; exemplars\n"
                  "averages labelled studies' image vectors (for search disease --exemplar-weight);\n"
                  "calibrate fits each disease's P = sigmoid(scale z + bias) to the stored studies' labels\n"
                  "(z the model's log-odds; >= 5 studies with and without it), which text search and\n"
                  "classify's calibrated probability use. --save-model also writes the fits into the\n"
                  "model's diseases.json (entries with the model's phrases), so databases made with the\n"
                  "model start calibrated; fit on labelled studies the model was not trained on.\n") +
      kQueryOptions;
  Args args(argc, argv, 0, {"help", "json", "save-model"});
  int exit;
  if (!Prepare(args, {"db", "model", "threads", "json", "help", "positive", "negative", "save-model"}, help, &exit)) {
    return exit;
  }
  const std::string what = args.positional().empty() ? "list" : args.positional()[0];
  const std::string name = JoinPositional(args, 1);
  if (what != "list" && what != "set" && what != "delete" && what != "exemplars" && what != "calibrate") {
    return UsageError("unknown diseases action '" + what + "' (list, set, delete, exemplars, calibrate)", help);
  }
  if (args.Has("save-model") && what != "calibrate") return UsageError("--save-model goes with calibrate", help);
  if (what == "delete" && name.empty()) return UsageError("diseases delete needs a NAME", help);
  auto session = OpenSession(args, what == "set" || args.Has("save-model"));
  if (!session.ok()) return Fail(session.status());
  if (what == "delete") {
    Status s = session->engine->DeleteDisease(name);
    if (!s.ok()) return Fail(s);
    std::printf("deleted %s\n", name.c_str());
    return 0;
  }
  if (what == "set") {
    if (name.empty() || !args.Has("positive")) return UsageError("diseases set needs NAME and --positive", help);
    auto e = session->engine->SetDisease(name, Phrases(args.Get("positive")), Phrases(args.Get("negative")));
    if (!e.ok()) return Fail(e.status());
    std::printf("%s\n", args.Has("json") ? server::DiseaseJson(*e).c_str()
                                         : ("set " + e->name + " (" + std::to_string(e->positive.size()) +
                                            " positive, " + std::to_string(e->negative.size()) + " negative phrases)")
                                               .c_str());
    return 0;
  }
  if (what == "exemplars") {
    auto n = session->engine->ComputeExemplars();
    if (!n.ok()) return Fail(n.status());
    std::printf(args.Has("json") ? "{\"studies\":%llu}\n" : "exemplar prototypes from %llu studies\n",
                (unsigned long long)*n);
    return 0;
  }
  if (what == "calibrate") return CalibrateDiseases(args, *session);
  auto c = session->engine->Diseases();
  if (!c.ok()) return Fail(c.status());
  if (args.Has("json")) {
    std::printf("%s\n", server::DiseasesJson(*c).c_str());
    return 0;
  }
  for (const auto& e : *c) {
    std::printf("%-40s %2zu+ %2zu-  %s%s%s\n", e.name.c_str(), e.positive.size(), e.negative.size(),
                e.positive_prototype.empty() ? "not embedded" : "embedded",
                e.exemplar_studies ? (", exemplars of " + std::to_string(e.exemplar_studies) + " studies").c_str() : "",
                e.calibration_studies ? (", calibrated on " + std::to_string(e.calibration_studies) + " studies").c_str()
                                      : "");
  }
  if (c->empty()) std::printf("(empty catalog: open with --model once to seed it from the model)\n");
  return 0;
}

int CmdBackup(int argc, char** argv) {
  const std::string help = "usage: ctdb backup --db PATH --out DIR\n"
                           "Writes a consistent copy (RocksDB checkpoint + index snapshots) into DIR, which\n"
                           "must not exist. The copy is itself a database; `ctdb restore` puts it back.\n";
  Args args(argc, argv, 0, {"help"});
  int exit;
  if (!Prepare(args, {"db", "out", "help"}, help, &exit)) return exit;
  if (!args.Has("db") || !args.Has("out")) return UsageError("--db and --out are required", help);
  Options o;
  o.path = args.Get("db");
  auto db = Database::Open(o);
  if (!db.ok()) return Fail(db.status());
  Status s = (*db)->Backup(args.Get("out"));
  if (!s.ok()) return Fail(s);
  std::printf("backup of %llu studies written to %s\n", (unsigned long long)(*db)->Count(), args.Get("out").c_str());
  return 0;
}

int CmdRestore(int argc, char** argv) {
  const std::string help = "usage: ctdb restore --from BACKUP --db PATH\n"
                           "Copies a backup to PATH (which must not exist) after checking that it opens.\n";
  Args args(argc, argv, 0, {"help"});
  int exit;
  if (!Prepare(args, {"db", "from", "help"}, help, &exit)) return exit;
  if (!args.Has("db") || !args.Has("from")) return UsageError("--from and --db are required", help);
  Status s = Database::Restore(args.Get("from"), args.Get("db"));
  if (!s.ok()) return Fail(s);
  std::printf("restored %s to %s\n", args.Get("from").c_str(), args.Get("db").c_str());
  return 0;
}

}  // namespace ctdb::cli
