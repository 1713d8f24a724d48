// A library with the entry point whose static constructor crashes as it is loaded: the
// probe process must report it as a crash while loading, before the entry point.
#include <csignal>

namespace {
__attribute__((constructor)) void crash_on_load() { std::raise(SIGABRT); }
}  // namespace

extern "C" __attribute__((visibility("default"))) const void* trainscope_plugin_descriptor() { return nullptr; }
