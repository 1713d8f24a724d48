// A library whose entry point never returns: the probe process must be killed at the timeout
// (TRAINSCOPE_PLUGIN_PROBE_TIMEOUT) and the library refused.
#include <unistd.h>

extern "C" __attribute__((visibility("default"))) const void* trainscope_plugin_descriptor() {
  for (;;) pause();
}
