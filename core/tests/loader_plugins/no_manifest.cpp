// A plain shared library that is not a tandem plugin.
extern "C" __attribute__((visibility("default"))) int plain_library_function() { return 42; }
