// The plugin's one exported entry point (manifest + factory).
#include "tandem/sdk/export.h"
#include "kv_plugin.h"

TANDEM_PLUGIN(tandem::kv::KvStorePlugin, "kvstore-dualwrite", "0.1.0",
              "Redis pair behind a RESP endpoint: secondary-first dual writes, durable journal, divergence measurement")
