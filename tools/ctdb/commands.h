// The ctdb subcommands. Each takes argv after the subcommand name and
// returns the process exit code (see cli_common.h).
#pragma once

namespace ctdb::cli {

int CmdCreate(int argc, char** argv);
int CmdDemoVectors(int argc, char** argv);
int CmdGet(int argc, char** argv);
int CmdDelete(int argc, char** argv);
int CmdList(int argc, char** argv);
int CmdStats(int argc, char** argv);
int CmdSearch(int argc, char** argv);
int CmdCompact(int argc, char** argv);
int CmdBench(int argc, char** argv);
int BenchEncoder(int argc, char** argv);  // ctdb bench encoder
int BenchQuery(int argc, char** argv);    // ctdb bench query
int CmdInspect(int argc, char** argv);
int CmdSynth(int argc, char** argv);
int CmdEval(int argc, char** argv);
int CmdModel(int argc, char** argv);
int CmdIngest(int argc, char** argv);
int CmdReembed(int argc, char** argv);
int CmdTrain(int argc, char** argv);
int CmdQuerySearch(int argc, char** argv);  // ctdb search text|image|disease|report
int CmdClassify(int argc, char** argv);
int CmdLocalize(int argc, char** argv);
int CmdReport(int argc, char** argv);
int CmdDiseases(int argc, char** argv);
int CmdBackup(int argc, char** argv);
int CmdRestore(int argc, char** argv);
int CmdServe(int argc, char** argv);

}  // namespace ctdb::cli
