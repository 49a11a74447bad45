// doctest for test files that include LibTorch: LibTorch pulls in glog,
// whose CHECK macros would shadow doctest's (a failed CHECK would abort the
// whole binary instead of reporting). Include this before anything else.
#pragma once

#include <torch/script.h>
#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE
#include <doctest/doctest.h>
