// Forward declaration of the protobuf message the dashboards' value encoders fill, so that
// their headers stay protobuf-free (the torch half includes them; only sdk/events sources
// include a .pb.h).
#pragma once

namespace trainscope::proto {
class Summary_Value;  // Summary.Value (summary.proto)
}  // namespace trainscope::proto
