// The one place that knows which backends were compiled in: turns a BackendConfig into a Backend.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace primus::runtime {

// device: "cpu" or "cuda" (or "cuda:N"). threads: CPU threads, 0 = all cores.
// Throws primus::Error (usage) naming the device if it was not built or is not present.
std::unique_ptr<Backend> make_backend(const std::string& device, int threads = 0);

// The same, or null where the backend was not built in or its device is not present (for callers,
// such as GPU tests, that go on without it).
std::unique_ptr<Backend> make_backend_if_present(const std::string& device, int threads = 0);

// Names of the backends compiled into this binary, e.g. {"cpu", "cuda"}.
std::vector<std::string> compiled_backends();

}  // namespace primus::runtime
