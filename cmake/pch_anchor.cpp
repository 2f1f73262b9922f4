// Translation unit that owns the precompiled LibTorch header (cmake/DisaHelpers.cmake);
// every LibTorch-using target reuses the PCH built here.
namespace disa { int pch_anchor() { return 0; } }
