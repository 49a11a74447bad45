// JSON forms of query results, records and the disease catalog, shared by
// the REST server and `ctdb ... --json` so both print the same shapes.
// nlohmann_json stays inside api/: these return text.
//
// Thread contract: stateless functions.
#pragma once

#include <string>
#include <vector>

#include "ctdb/database.h"
#include "ctdb/query.h"

namespace ctdb::server {

std::string RecordJson(const StudyRecord& record);
std::string QueryResultJson(const QueryResult& result, size_t offset);
std::string ClassifyJson(const std::string& key, const std::vector<DiseaseProbability>& probabilities);
std::string LocalizationJson(const Localization& localization);
std::string ReportDraftJson(const std::string& key, const ReportDraft& draft);
std::string DiseasesJson(const std::vector<DiseaseEntry>& catalog);
std::string DiseaseJson(const DiseaseEntry& entry);
std::string StatsJson(const DatabaseStats& stats);

}  // namespace ctdb::server
