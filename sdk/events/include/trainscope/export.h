// Symbol visibility for libtrainscope_sdk.
#pragma once

#if defined(_WIN32)
#define TRAINSCOPE_API
#else
#define TRAINSCOPE_API __attribute__((visibility("default")))
#endif
