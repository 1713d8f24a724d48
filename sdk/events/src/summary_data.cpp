// Out-of-line anchor for DeferredPayload's vtable.
#include "trainscope/summary_data.h"

namespace trainscope {
DeferredPayload::~DeferredPayload() = default;
}  // namespace trainscope
