// SDK version; CMake reads the project version from here.
#pragma once

#define TRAINSCOPE_VERSION_MAJOR 0
#define TRAINSCOPE_VERSION_MINOR 1
#define TRAINSCOPE_VERSION_PATCH 0
#define TRAINSCOPE_VERSION_STRING "0.1.0"
