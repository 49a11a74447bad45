// ctdb: command-line interface of the CT retrieval database.
#include <cstdio>
#include <cstring>
#include <string>

#include "ctdb/version.h"
#include "tools/ctdb/commands.h"

namespace {

const char kHelp[] =
    "usage: ctdb <command> [options]   (ctdb <command> --help for details)\n"
    "\n"
    "commands:\n"
    "  create         create an empty database\n"
    "  demo-vectors   fill a database with synthetic studies and vectors\n"
    "  get            print a study's record\n"
    "  delete         delete a study\n"
    "  list           list study keys\n"
    "  stats          database and index statistics\n"
    "  search         search text|image|disease|report (or --like KEY: raw vector search)\n"
    "  classify       P(disease) for a study, every catalog disease\n"
    "  localize       where along z a text matches a study\n"
    "  report         draft a report from the nearest studies\n"
    "  diseases       list / edit the disease catalog, compute exemplars\n"
    "  serve          REST server and web page\n"
    "  backup         consistent copy of a database (RocksDB checkpoint + index snapshot)\n"
    "  restore        put a backup back\n"
    "  compact        rebuild indexes without tombstones, compact storage\n"
    "  inspect        describe a NIfTI file, DICOM file/series or CT-RATE folder\n"
    "  ingest         embed CT studies (NIfTI, DICOM, CT-RATE) with a model into a database\n"
    "  reembed        re-embed a database's studies with another model\n"
    "  model          create (model init) or describe (model info) a model directory\n"
    "  train          train the native model on a CT-RATE-layout folder\n"
    "  synth          write synthetic CT studies in CT-RATE's layout\n"
    "  eval           retrieval quality of the stored vectors (R@k, MAP@k)\n"
    "  bench          benchmarks (bench search, bench preprocess, bench encoder)\n"
    "  version        print the version\n"
    "\n"
    "exit codes: 0 ok, 2 usage error, 10+N error (11 not found, 12 invalid argument,\n"
    "            13 corruption, 14 I/O error, ...)\n";

struct Command {
  const char* name;
  int (*fn)(int, char**);
};

const Command kCommands[] = {
    {"create", ctdb::cli::CmdCreate},   {"demo-vectors", ctdb::cli::CmdDemoVectors},
    {"get", ctdb::cli::CmdGet},         {"delete", ctdb::cli::CmdDelete},
    {"list", ctdb::cli::CmdList},       {"stats", ctdb::cli::CmdStats},
    {"search", ctdb::cli::CmdSearch},   {"compact", ctdb::cli::CmdCompact},
    {"bench", ctdb::cli::CmdBench},     {"inspect", ctdb::cli::CmdInspect},
    {"synth", ctdb::cli::CmdSynth},     {"eval", ctdb::cli::CmdEval},
    {"model", ctdb::cli::CmdModel},     {"ingest", ctdb::cli::CmdIngest},
    {"reembed", ctdb::cli::CmdReembed}, {"train", ctdb::cli::CmdTrain},
    {"classify", ctdb::cli::CmdClassify}, {"localize", ctdb::cli::CmdLocalize},
    {"report", ctdb::cli::CmdReport},   {"diseases", ctdb::cli::CmdDiseases},
    {"backup", ctdb::cli::CmdBackup},   {"restore", ctdb::cli::CmdRestore},
    {"serve", ctdb::cli::CmdServe},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    std::fputs(kHelp, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "version") || !std::strcmp(argv[1], "--version")) {
    std::printf("ctdb %s\n", ctdb::kVersionString);
    return 0;
  }
  for (const auto& c : kCommands) {
    if (!std::strcmp(argv[1], c.name)) return c.fn(argc - 2, argv + 2);
  }
  std::fprintf(stderr, "ctdb: unknown command '%s'\n\n%s", argv[1], kHelp);
  return 2;
}
