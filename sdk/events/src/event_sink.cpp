// EventSink's out-of-line destructor: the class's key function, so its vtable and type info
// are exported once from libtrainscope_events (sinks written outside the library derive from it).
#include "trainscope/event_sink.h"

namespace trainscope {

EventSink::~EventSink() = default;

}  // namespace trainscope
