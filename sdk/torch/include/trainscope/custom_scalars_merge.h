// Adding charts to a run's custom-scalars layout. TensorBoard serves the latest layout of a
// run (as PyTorch, SummaryWriter::add_custom_scalars replaces the one written before), so a
// second party that wants its charts next to a plugin's writes the union instead.
#pragma once

#include "trainscope/custom_scalars.h"
#include "trainscope/export.h"

namespace trainscope {

class SummaryWriter;

// The layout last written through `writer` (add_custom_scalars, its shorthands or this) and
// `layout` together: categories of the same title are merged (a chart of the same title is
// replaced, others are appended; `closed` is kept when either says so), new categories come
// after the earlier ones. Validated and written as add_custom_scalars does.
TRAINSCOPE_API void add_custom_scalars_merged(SummaryWriter& writer, const CustomScalarLayout& layout);

// The union above, without writing it (for tests and tools).
TRAINSCOPE_API CustomScalarLayout merge_layouts(const CustomScalarLayout& first, const CustomScalarLayout& second);

namespace detail {
// Called by ~SummaryWriter: forgets the layout remembered for it.
TRAINSCOPE_API void forget_custom_scalars(const SummaryWriter* writer);
}  // namespace detail

}  // namespace trainscope
