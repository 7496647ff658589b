// The plugin's one exported entry point (manifest + factory).
#include "kv_plugin.h"
#include "tandem/sdk/export.h"

TANDEM_PLUGIN(tandem::kv::KvStorePlugin, "kvstore-dualwrite", "0.1.0",
              "Redis pair behind a RESP endpoint: secondary-first dual writes, durable journal, divergence measurement")
