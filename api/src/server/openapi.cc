// The OpenAPI 3 description of the REST API, served at /openapi.json.
// Kept next to routes.cc: a route added there is documented here (the
// server test checks every documented path answers).
#include <nlohmann/json.hpp>

#include "api/src/server/server_impl.h"

namespace ctdb::server {
namespace {

json Ref(const std::string& name) { return {{"$ref", "#/components/schemas/" + name}}; }

json JsonBody(const json& schema) {
  return {{"required", true}, {"content", {{"application/json", {{"schema", schema}}}}}};
}

json Responses(const std::string& ok_schema, bool write = false, int ok = 200) {
  json r = {{std::to_string(ok), {{"description", "OK"}, {"content", {{"application/json", {{"schema", Ref(ok_schema)}}}}}}},
            {"400", {{"$ref", "#/components/responses/Error"}}},
            {"401", {{"$ref", "#/components/responses/Error"}}},
            {"404", {{"$ref", "#/components/responses/Error"}}},
            {"500", {{"$ref", "#/components/responses/Error"}}}};
  if (write) {
    r["403"] = {{"$ref", "#/components/responses/Error"}};
    r["409"] = {{"$ref", "#/components/responses/Error"}};
    r["413"] = {{"$ref", "#/components/responses/Error"}};
  }
  return r;
}

json Op(const std::string& id, const std::string& summary, const std::string& tag, json responses) {
  return {{"operationId", id}, {"summary", summary}, {"tags", {tag}}, {"responses", std::move(responses)}};
}

json KeyParam() {
  return {{"name", "key"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}},
          {"description", "the study's external key"}};
}

json Build() {
  const json str = {{"type", "string"}}, num = {{"type", "number"}}, integer = {{"type", "integer"}};
  json schemas;
  schemas["Error"] = {{"type", "object"},
                      {"required", {"error"}},
                      {"properties",
                       {{"error",
                         {{"type", "object"},
                          {"required", {"code", "message"}},
                          {"properties", {{"code", str}, {"message", str}}}}}}}};
  schemas["ListOptions"] = {
      {"type", "object"},
      {"properties",
       {{"k", {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}, {"default", 10}}},
        {"offset", {{"type", "integer"}, {"minimum", 0}, {"maximum", 10000}, {"default", 0}}},
        {"filter", {{"type", "string"}, {"description", "e.g. sex=F,age=40-60,date=20200101-20231231,manufacturer=SIEMENS,label=Pleural effusion,finding=Lung nodule"}}},
        {"exact", {{"type", "boolean"}, {"default", false}}}}}};
  auto with_list = [&](json props, std::vector<std::string> required) {
    json part = {{"type", "object"}, {"properties", props}};
    if (!required.empty()) part["required"] = required;  // OpenAPI 3.0: an empty list is invalid
    return json{{"allOf", {Ref("ListOptions"), part}}};
  };
  schemas["TextQuery"] = with_list({{"text", str}}, {"text"});
  schemas["DiseaseQuery"] = with_list({{"disease", str}, {"exemplar_weight", {{"type", "number"}, {"minimum", 0}, {"maximum", 1}}}}, {"disease"});
  schemas["ImageQuery"] = with_list({{"key", str}, {"path", {{"type", "string"}, {"description", "relative to the server's files root"}}}, {"disease", str}}, {});
  schemas["Hit"] = {{"type", "object"},
                    {"required", {"rank", "key", "score"}},
                    {"properties",
                     {{"rank", integer}, {"key", str}, {"score", num}, {"probability", num}, {"z_mm", num},
                      {"slab_score", num}, {"sentence", str}, {"study", {{"type", "object"}}}}}};
  schemas["QueryResult"] = {{"type", "object"},
                            {"required", {"score_meaning", "hits"}},
                            {"properties", {{"score_meaning", str}, {"hits", {{"type", "array"}, {"items", Ref("Hit")}}}}}};
  schemas["Record"] = {{"type", "object"},
                       {"required", {"key"}},
                       {"properties",
                        {{"key", str}, {"patient_id", str}, {"sex", str}, {"age_years", integer},
                         {"study_date", integer}, {"manufacturer", str}, {"findings", str}, {"impression", str},
                         {"labels", {{"type", "array"}, {"items", str}}}, {"model_id", str},
                         {"spacing_mm", {{"type", "array"}, {"items", num}}},
                         {"shape", {{"type", "array"}, {"items", integer}}},
                         {"statements", {{"type", "array"}, {"items", {{"type", "object"}}}}}}}};
  schemas["Classification"] = {{"type", "object"},
                               {"properties",
                                {{"key", str}, {"score_meaning", str},
                                 {"diseases", {{"type", "array"}, {"items", {{"type", "object"}, {"properties", {{"disease", str}, {"probability", num}, {"token_probability", num}, {"calibrated_probability", num}, {"margin", num}, {"labelled", {{"type", "boolean"}}}, {"detections", {{"type", "array"}, {"items", {{"type", "object"}, {"properties", {{"score", num}, {"position_mm", {{"type", "array"}, {"items", num}, {"minItems", 3}, {"maxItems", 3}}}}}}}}}}}}}}}}}};
  schemas["Localization"] = {{"type", "object"},
                             {"properties",
                              {{"key", str}, {"z_mm", num}, {"slab_z_mm", num}, {"score", num}, {"slab_mm", num}, {"score_meaning", str},
                               {"detection", {{"type", "object"}, {"properties", {{"finding", str}, {"score", num}, {"position_mm", {{"type", "array"}, {"items", num}}}}}}},
                               {"curve", {{"type", "array"}, {"items", {{"type", "object"}, {"properties", {{"z_mm", num}, {"score", num}}}}}}}}}};
  schemas["ReportDraft"] = {{"type", "object"},
                            {"properties",
                             {{"key", str}, {"draft", str}, {"note", str},
                              {"findings", {{"type", "array"}, {"items", {{"type", "object"}}}}},
                              {"neighbors", {{"type", "array"}, {"items", {{"type", "object"}}}}}}}};
  schemas["Disease"] = {{"type", "object"},
                        {"properties",
                         {{"name", str}, {"positive", {{"type", "array"}, {"items", str}}},
                          {"negative", {{"type", "array"}, {"items", str}}}, {"embedded", {{"type", "boolean"}}},
                          {"model_id", str}, {"exemplar_studies", integer}, {"calibration", {{"type", "object"}, {"properties", {{"scale", num}, {"bias", num}, {"studies", integer}}}}}}}};
  schemas["Diseases"] = {{"type", "object"}, {"properties", {{"diseases", {{"type", "array"}, {"items", Ref("Disease")}}}}}};
  schemas["DiseasePhrases"] = {{"type", "object"},
                               {"required", {"positive"}},
                               {"properties", {{"positive", {{"type", "array"}, {"items", str}, {"minItems", 1}}},
                                               {"negative", {{"type", "array"}, {"items", str}}}}}};
  schemas["Keys"] = {{"type", "object"}, {"properties", {{"keys", {{"type", "array"}, {"items", str}}}, {"next_after", str}}}};
  schemas["Deleted"] = {{"type", "object"}, {"properties", {{"deleted", str}}}};
  schemas["Count"] = {{"type", "object"}, {"properties", {{"studies", integer}}}};
  schemas["Stats"] = {{"type", "object"}, {"properties", {{"studies", integer}, {"dimension", integer}, {"model_id", str}, {"image_index", {{"type", "object"}}}, {"report_index", {{"type", "object"}}}}}};
  schemas["Status"] = {{"type", "object"}, {"properties", {{"status", str}}}};
  schemas["IngestRequest"] = {{"type", "object"},
                              {"required", {"path"}},
                              {"properties", {{"path", {{"type", "string"}, {"description", "relative to the server's files root"}}},
                                              {"metadata", Ref("Record")}, {"replace", {{"type", "boolean"}}}}}};
  schemas["Upload"] = {{"type", "object"},
                       {"required", {"volume"}},
                       {"properties",
                        {{"volume", {{"type", "string"}, {"format", "binary"}, {"description", "NIfTI (.nii/.nii.gz), a DICOM file, or a zip of one DICOM series"}}},
                         {"metadata", {{"type", "string"}, {"description", "JSON object: key, patient_id, sex, age_years, study_date, manufacturer, findings, impression, labels"}}},
                         {"options", {{"type", "string"}, {"description", "JSON object of ImageQuery fields (search only)"}}},
                         {"replace", {{"type", "string"}, {"enum", {"true", "false"}}}}}}};

  json paths;
  auto pub = [](json op) {
    op["security"] = json::array();
    return op;
  };
  paths["/healthz"]["get"] = pub(Op("healthz", "Liveness", "ops", Responses("Status")));
  paths["/readyz"]["get"] = pub(Op("readyz", "Readiness (503 while shutting down)", "ops", Responses("Status")));
  paths["/metrics"]["get"] = Op("metrics", "Prometheus metrics", "ops",
                                {{"200", {{"description", "Prometheus text format"}, {"content", {{"text/plain", {{"schema", str}}}}}}},
                                 {"401", {{"$ref", "#/components/responses/Error"}}}});
  paths["/openapi.json"]["get"] = pub(Op("openapi", "This document", "ops", {{"200", {{"description", "OpenAPI 3 document"}, {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}}}}));
  paths["/"]["get"] = pub(Op("webPage", "Search web page", "ops", {{"200", {{"description", "HTML"}, {"content", {{"text/html", {{"schema", str}}}}}}}}));
  paths["/v1/stats"]["get"] = Op("stats", "Database statistics", "studies", Responses("Stats"));
  paths["/v1/search/text"]["post"] = Op("searchText", "Studies whose images show what a text says (hits carry z_mm)", "search", Responses("QueryResult"));
  paths["/v1/search/text"]["post"]["requestBody"] = JsonBody(Ref("TextQuery"));
  paths["/v1/search/reports"]["post"] = Op("searchReports", "Reports matching a text (hits carry the best sentence)", "search", Responses("QueryResult"));
  paths["/v1/search/reports"]["post"]["requestBody"] = JsonBody(Ref("TextQuery"));
  paths["/v1/search/disease"]["post"] = Op("searchDisease", "Studies most likely to show a disease", "search", Responses("QueryResult"));
  paths["/v1/search/disease"]["post"]["requestBody"] = JsonBody(Ref("DiseaseQuery"));
  paths["/v1/search/image"]["post"] = Op("searchImage", "Studies like a stored study, a server file, or an uploaded volume", "search", Responses("QueryResult"));
  paths["/v1/search/image"]["post"]["requestBody"] = {
      {"required", true},
      {"content", {{"application/json", {{"schema", Ref("ImageQuery")}}}, {"multipart/form-data", {{"schema", Ref("Upload")}}}}}};
  paths["/v1/studies"]["get"] = Op("listStudies", "Study keys (paged)", "studies", Responses("Keys"));
  paths["/v1/studies"]["get"]["parameters"] = {
      {{"name", "prefix"}, {"in", "query"}, {"schema", str}},
      {{"name", "after"}, {"in", "query"}, {"schema", str}},
      {{"name", "limit"}, {"in", "query"}, {"schema", {{"type", "integer"}, {"minimum", 1}, {"maximum", 10000}}}}};
  paths["/v1/studies"]["post"] = Op("ingestStudy", "Embed and store one study (upload or server file)", "studies", Responses("Record", true, 201));
  paths["/v1/studies"]["post"]["requestBody"] = {
      {"required", true},
      {"content", {{"application/json", {{"schema", Ref("IngestRequest")}}}, {"multipart/form-data", {{"schema", Ref("Upload")}}}}}};
  paths["/v1/studies/{key}"]["parameters"] = {KeyParam()};
  paths["/v1/studies/{key}"]["get"] = Op("getStudy", "A study's record", "studies", Responses("Record"));
  paths["/v1/studies/{key}"]["delete"] = Op("deleteStudy", "Delete a study", "studies", Responses("Deleted", true));
  paths["/v1/studies/{key}/classify"]["parameters"] = {KeyParam()};
  paths["/v1/studies/{key}/classify"]["get"] = Op("classify", "P(disease) for every catalog disease", "queries", Responses("Classification"));
  paths["/v1/studies/{key}/localize"]["parameters"] = {KeyParam()};
  paths["/v1/studies/{key}/localize"]["post"] = Op("localize", "Where along z a text matches the study", "queries", Responses("Localization"));
  paths["/v1/studies/{key}/localize"]["post"]["requestBody"] = JsonBody({{"type", "object"}, {"required", {"text"}}, {"properties", {{"text", str}}}});
  paths["/v1/studies/{key}/report-draft"]["parameters"] = {KeyParam()};
  paths["/v1/studies/{key}/report-draft"]["get"] = Op("reportDraft", "Draft a report from the nearest studies", "queries", Responses("ReportDraft"));
  paths["/v1/studies/{key}/slice.png"]["parameters"] = {
      KeyParam(),
      {{"name", "z"}, {"in", "query"}, {"schema", num}, {"description", "patient z in mm (default: middle slice)"}},
      {{"name", "window"}, {"in", "query"}, {"schema", {{"type", "string"}, {"enum", {"lung", "mediastinum", "bone"}}}}}};
  paths["/v1/studies/{key}/slice.png"]["get"] = Op("slicePng", "Axial slice thumbnail of the stored preview", "studies",
                                                   {{"200", {{"description", "PNG"}, {"content", {{"image/png", {{"schema", {{"type", "string"}, {"format", "binary"}}}}}}}}},
                                                    {"400", {{"$ref", "#/components/responses/Error"}}},
                                                    {"404", {{"$ref", "#/components/responses/Error"}}}});
  paths["/v1/diseases"]["get"] = Op("listDiseases", "The disease catalog", "diseases", Responses("Diseases"));
  paths["/v1/diseases/{name}"]["parameters"] = {{{"name", "name"}, {"in", "path"}, {"required", true}, {"schema", str}}};
  paths["/v1/diseases/{name}"]["put"] = Op("setDisease", "Set a disease's phrases (adds it when new) and embed them", "diseases", Responses("Disease", true));
  paths["/v1/diseases/{name}"]["put"]["requestBody"] = JsonBody(Ref("DiseasePhrases"));
  paths["/v1/diseases/{name}"]["delete"] = Op("deleteDisease", "Remove a disease from the catalog", "diseases", Responses("Deleted", true));
  paths["/v1/diseases/exemplars"]["post"] = Op("computeExemplars", "Recompute exemplar prototypes from labelled studies", "diseases", Responses("Count", true));
  paths["/v1/diseases/calibration"]["post"] = Op("calibrateDiseases", "Fit each disease's calibration to the stored studies' labels; returns the catalog", "diseases", Responses("Diseases", true));

  return {{"openapi", "3.0.3"},
          {"info",
           {{"title", "ctdb REST API"},
            {"version", "1"},
            {"description", "Retrieval over 3D CT studies and reports. Errors are {\"error\":{\"code\",\"message\"}}. "
                            "Send Authorization: Bearer <key>; write operations need a write-scoped key."}}},
          {"servers", {{{"url", "/"}}}},
          {"security", {{{"bearer", json::array()}}}},
          {"paths", paths},
          {"components",
           {{"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}},
            {"responses",
             {{"Error", {{"description", "Error"}, {"content", {{"application/json", {{"schema", Ref("Error")}}}}}}}}},
            {"schemas", schemas}}}};
}

}  // namespace

const std::string& OpenApiDocument() {
  static const std::string doc = Build().dump(1);
  return doc;
}

}  // namespace ctdb::server
