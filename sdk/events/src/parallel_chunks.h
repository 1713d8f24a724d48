// A small shared pool that runs the chunks of one large job on the calling thread plus
// helper threads: for add_histogram of big tensors, where one core cannot keep up with the
// caller. The calling thread always works too and never waits for a helper that has not
// started, so a busy or absent pool only makes the job single-threaded, never slower or
// stuck (a forked child, whose helpers do not exist, runs everything on the caller).
#pragma once

#include <cstddef>

namespace trainscope::detail {

// Runs work(ctx, participant, chunk) exactly once for every chunk in [0, chunks) and
// returns when all have finished. participant is 0 on the calling thread and
// 1..max_participants()-1 on helpers; one participant runs its chunks one after another,
// so per-participant scratch needs no lock. work must not throw.
using ChunkWork = void (*)(void* ctx, unsigned participant, size_t chunk);
void run_chunks(size_t chunks, ChunkWork work, void* ctx);

// memcpy on the calling thread plus the pool's helpers, in chunks of 512 KiB; a plain
// memcpy below 1 MiB or when the pool has no helper.
void parallel_copy(void* dst, const void* src, size_t bytes);

// 1 + the number of helper threads: min(hardware threads, 8), or
// TRAINSCOPE_HISTOGRAM_THREADS when set (1 turns the helpers off).
unsigned max_participants();

}  // namespace trainscope::detail
