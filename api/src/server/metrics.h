// Request counters and latency histograms in Prometheus text format.
//
// Thread contract: Observe and Render are thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "ctdb/database.h"

namespace ctdb::server {

class Metrics {
 public:
  // One finished request: its route pattern (not the raw path, to keep the
  // label set small), method and status.
  void Observe(const std::string& method, const std::string& route, int status, double seconds);
  // Prometheus exposition text, database gauges included.
  std::string Render(const DatabaseStats& stats) const;

  // Upper bounds (seconds) of the latency buckets.
  static constexpr std::array<double, 12> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,   0.25,   0.5,   1,    2.5,   10};

 private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};  // non-cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;  // method, route, status
  std::map<std::pair<std::string, std::string>, Histogram> latency_;       // method, route
};

}  // namespace ctdb::server
