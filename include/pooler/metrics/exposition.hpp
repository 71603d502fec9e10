// Exposition: every metric family pooler exports, declared in one place, built from a Sample and
// written in the Prometheus text format. README.md's metrics table follows this list.
#pragma once

#include <string>

#include "pooler/metrics/sample.hpp"

namespace pooler::metrics {

// `ready` is the full readiness (the loop's view plus the exporter's reachability probe).
std::string render_text(const Sample& sample, bool ready);

}  // namespace pooler::metrics
