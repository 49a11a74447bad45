#include "api/src/server/metrics.h"

#include <cstdio>

namespace ctdb::server {
namespace {

std::string Escape(const std::string& v) {
  std::string o;
  for (char c : v) {
    if (c == '\\' || c == '"') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o;
}

}  // namespace

void Metrics::Observe(const std::string& method, const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{method, route, status}];
  Histogram& h = latency_[{method, route}];
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  if (b < kBuckets.size()) ++h.counts[b];
  ++h.count;
  h.sum += seconds;
}

std::string Metrics::Render(const DatabaseStats& s) const {
  std::string out;
  char buf[512];
  out += "# HELP ctdb_http_requests_total HTTP requests served, by route and status.\n"
         "# TYPE ctdb_http_requests_total counter\n";
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [k, n] : requests_) {
    std::snprintf(buf, sizeof(buf), "ctdb_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
                  Escape(std::get<0>(k)).c_str(), Escape(std::get<1>(k)).c_str(), std::get<2>(k),
                  (unsigned long long)n);
    out += buf;
  }
  out += "# HELP ctdb_http_request_duration_seconds Time to serve a request.\n"
         "# TYPE ctdb_http_request_duration_seconds histogram\n";
  for (const auto& [k, h] : latency_) {
    const std::string labels = "method=\"" + Escape(k.first) + "\",route=\"" + Escape(k.second) + "\"";
    uint64_t cum = 0;
    for (size_t b = 0; b < kBuckets.size(); ++b) {
      cum += h.counts[b];
      std::snprintf(buf, sizeof(buf), "ctdb_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n", labels.c_str(),
                    kBuckets[b], (unsigned long long)cum);
      out += buf;
    }
    std::snprintf(buf, sizeof(buf),
                  "ctdb_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n"
                  "ctdb_http_request_duration_seconds_sum{%s} %.6f\n"
                  "ctdb_http_request_duration_seconds_count{%s} %llu\n",
                  labels.c_str(), (unsigned long long)h.count, labels.c_str(), h.sum, labels.c_str(),
                  (unsigned long long)h.count);
    out += buf;
  }
  // One family per call: together they outgrow buf, and a truncated
  // /metrics would silently drop the last gauges.
  auto family = [&](const char* help_type, const char* name, unsigned long long image, unsigned long long report) {
    std::snprintf(buf, sizeof(buf), "%s%s{index=\"image\"} %llu\n%s{index=\"report\"} %llu\n", help_type, name, image,
                  name, report);
    out += buf;
  };
  std::snprintf(buf, sizeof(buf), "# HELP ctdb_studies Studies stored.\n# TYPE ctdb_studies gauge\nctdb_studies %llu\n",
                (unsigned long long)s.studies);
  out += buf;
  family("# HELP ctdb_index_rows Searchable rows per index.\n# TYPE ctdb_index_rows gauge\n", "ctdb_index_rows",
         s.image_index.live, s.report_index.live);
  family("# HELP ctdb_index_tombstones Deleted rows awaiting compaction.\n# TYPE ctdb_index_tombstones gauge\n",
         "ctdb_index_tombstones", s.image_index.tombstones, s.report_index.tombstones);
  family("# HELP ctdb_index_memory_bytes Approximate RAM held by each index.\n# TYPE ctdb_index_memory_bytes gauge\n",
         "ctdb_index_memory_bytes", s.image_index.memory_bytes, s.report_index.memory_bytes);
  std::snprintf(buf, sizeof(buf),
                "# HELP ctdb_disk_bytes Approximate size of the RocksDB files.\n# TYPE ctdb_disk_bytes gauge\n"
                "ctdb_disk_bytes %llu\n",
                (unsigned long long)s.disk_bytes);
  out += buf;
  return out;
}

}  // namespace ctdb::server
